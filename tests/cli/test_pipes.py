"""Standard input and output: images and audio through pipes, streams of unknown length, live streaming,
and the ways pipes go wrong."""

from __future__ import annotations

import io as stdio
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from denoise.cli import cli
from denoise.io.pipes import PcmFormat, PcmStream, read_wav_header
from tests.conftest import smooth_image, speechlike, write_image

SR = 16000


def invoke(args, data: bytes):
    return CliRunner().invoke(cli, [str(a) for a in args], input=data, catch_exceptions=False)


def noisy(seconds: float) -> np.ndarray:
    x = speechlike(seconds, SR) + 0.02 * np.random.default_rng(0).standard_normal(int(seconds * SR))
    return x.astype(np.float32)


def streamed_wav_header(rate: int = SR, channels: int = 1) -> bytes:
    """A 16-bit WAV header with both sizes 0xFFFFFFFF, as ffmpeg writes to a pipe."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data\xff\xff\xff\xff"


def pcm16(x: np.ndarray) -> bytes:
    return np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def parse_wav_stream(data: bytes) -> np.ndarray:
    """Decodes a WAV stream of unknown length with the package's own reader: (channels, n)."""
    src = stdio.BytesIO(data)
    fmt, size = read_wav_header(src)
    blocks, stream = [], PcmStream(src, fmt, size)
    while (b := stream.read(4096)) is not None:
        blocks.append(b)
    assert stream.dropped_bytes == 0
    return np.concatenate(blocks, axis=1)


def test_image_through_a_pipe_equals_the_file_run(tmp_path, color_ckpt):
    rng = np.random.default_rng(0)
    src = write_image(tmp_path / "a.png", (np.clip(smooth_image(40, 56, 3) + rng.normal(0, .1, (40, 56, 3)), 0, 1)
                                           * 255).astype(np.uint8))
    assert invoke(["image", src, "-o", tmp_path / "file.png", "--model", color_ckpt], b"").exit_code == 0
    r = invoke(["image", "-", "-o", "-", "--model", color_ckpt], src.read_bytes())
    assert r.exit_code == 0 and r.stdout_bytes == (tmp_path / "file.png").read_bytes()
    r = invoke(["image", "-", "--format", "jpeg", "--model", color_ckpt], src.read_bytes())  # -o - implied
    assert r.exit_code == 0 and r.stdout_bytes[:3] == b"\xff\xd8\xff"


def test_audio_wav_stream_of_unknown_length_comes_back_complete(tmp_path, audio_ckpt):
    x = noisy(3.0)
    sf.write(tmp_path / "in.wav", x, SR, subtype="PCM_16")
    assert invoke(["audio", tmp_path / "in.wav", "-o", tmp_path / "file.wav", "--model", audio_ckpt], b"").exit_code == 0
    samples = (tmp_path / "in.wav").read_bytes()[44:]  # the very samples the file run reads
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], streamed_wav_header() + samples)
    assert r.exit_code == 0, r.output
    out = parse_wav_stream(r.stdout_bytes)[0]
    ref = sf.read(tmp_path / "file.wav", dtype="float32")[0]
    assert out.shape == ref.shape and np.abs(out - ref).max() <= 1.5 / 32768  # the same, to a 16-bit step


def test_raw_pcm_in_raw_pcm_out(audio_ckpt):
    x = noisy(1.0)
    data = np.round(x * 8388607).astype(np.int64)
    raw = np.stack([data & 0xFF, (data >> 8) & 0xFF, (data >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    r = invoke(["audio", "-", "-o", "-", "--raw-format", "s24le", "--rate", SR, "--channels", 1,
                "--model", audio_ckpt], raw)
    assert r.exit_code == 0 and len(r.stdout_bytes) == len(raw)
    y = PcmFormat("s24le", SR, 1).decode(r.stdout_bytes)
    assert y.shape == (1, SR) and 0 < np.abs(y).max() < 1


@pytest.mark.slow
def test_a_pipeline_written_in_pieces(tmp_path, audio_ckpt):
    """A producer writes a WAV stream in small pieces, slowly; the output is a complete, valid WAV."""
    x = noisy(12.0)
    proc = subprocess.Popen([sys.executable, "-m", "denoise", "audio", "-", "-o", "-", "--model", str(audio_ckpt)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(streamed_wav_header())
    for piece in np.array_split(x, 40):
        proc.stdin.write(pcm16(piece))
        proc.stdin.flush()
    proc.stdin.close()
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    y = parse_wav_stream(out)
    assert y.shape == (1, len(x)) and np.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.parametrize("ckpt", ["audio_ckpt", "causal_audio_ckpt"])  # chunked, and frame by frame
def test_stream_mode_answers_before_the_input_ends(request, ckpt):
    import os
    import select

    proc = subprocess.Popen([sys.executable, "-m", "denoise", "audio", "-", "-o", "-", "--stream", "--model",
                             str(request.getfixturevalue(ckpt))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(streamed_wav_header())
    # 0.1 s pieces, and the input is never closed in this loop; on a busy machine the command may take a
    # while to start, so the loop waits up to two minutes for output rather than a number of pieces
    pieces, got, t0 = iter(np.array_split(noisy(30.0), 300)), b"", time.monotonic()
    while len(got) <= 44 + 2 * SR and time.monotonic() - t0 < 120 and proc.poll() is None:
        piece = next(pieces, None)
        if piece is not None:
            proc.stdin.write(pcm16(piece))
            proc.stdin.flush()
        if select.select([proc.stdout], [], [], 0.05)[0]:
            got += os.read(proc.stdout.fileno(), 1 << 20)
    assert len(got) > 44 + 2 * SR, "no output before the end of the input"
    proc.stdin.close()
    proc.stdout.read()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, audio_ckpt):
    sf.write(tmp_path / "long.wav", noisy(40.0), SR, subtype="PCM_16")
    proc = subprocess.Popen([sys.executable, "-m", "denoise", "audio", "-", "-o", "-", "--model", str(audio_ckpt)],
                            stdin=open(tmp_path / "long.wav", "rb"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(100)
    proc.stdout.close()  # like `| head -c 100`
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""


def test_stream_mode_with_a_causal_model_is_its_frame_by_frame_run(causal_audio_ckpt):
    from denoise import checkpoint
    from denoise.audio.realtime import CausalStream

    x = noisy(1.5)
    r = invoke(["audio", "-", "-o", "-", "--stream", "--raw-format", "f32le", "--rate", SR, "--channels", 1,
                "--model", causal_audio_ckpt], x.tobytes())
    assert r.exit_code == 0, r.output
    got = np.frombuffer(r.stdout_bytes, dtype="<f4")
    s = CausalStream(checkpoint.load(causal_audio_ckpt, "audio", 1), SR, 1)
    want = np.concatenate([s.push(x[None, a : a + 128]) for a in range(0, len(x), 128)] + [s.finish()], axis=1)[0]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bad_input_on_a_pipe_is_one_line(audio_ckpt, gray_ckpt):
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], b"this is not audio at all")
    assert r.exit_code == 1 and "not a WAV stream" in r.output and "--raw-format" in r.output
    assert "Traceback" not in r.output
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], streamed_wav_header()[:30])
    assert r.exit_code == 1 and "ended inside its header" in r.output
    declared = bytearray(streamed_wav_header())
    declared[40:44] = struct.pack("<I", 2 * SR)  # declares 1 s, brings 0.5 s
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], bytes(declared) + pcm16(noisy(0.5)))
    assert r.exit_code == 0 and "ended before the length" in r.output
    r = invoke(["image", "-", "-o", "-", "--model", gray_ckpt], b"junk")
    assert r.exit_code == 1 and r.output.strip().endswith("standard input is not a readable image")
    r = invoke(["image", "-", "-o", "-", "--model", gray_ckpt], b"")
    assert r.exit_code == 1 and "empty" in r.output


@pytest.mark.parametrize("args, message", [
    (["image", "-", "a.png", "-o", "-"], "exactly one input"),
    (["image", "-", "--json"], "--json works on files"),
    (["audio", "a.wav", "-o", "-", "--rate", "16000"], "give '-' as the input"),
    (["audio", "-", "--raw-format", "s16le"], "all three"),
])
def test_what_a_pipe_cannot_do_is_a_usage_error(args, message):
    r = invoke(args, b"")
    assert r.exit_code == 2 and message in r.output


# ------------------------------------------------------------------------- third reliability pass
def _riff(*chunks: bytes) -> bytes:
    return b"RIFF\xff\xff\xff\xffWAVE" + b"".join(chunks)


def _chunk(tag: bytes, body: bytes, declared: int | None = None) -> bytes:
    return tag + struct.pack("<I", len(body) if declared is None else declared) + body


@pytest.mark.parametrize("stream, message", [
    (_riff(_chunk(b"fmt ", b"\x01\x00\x01\x00"), _chunk(b"data", b"", 0xFFFFFFFF)), "'fmt ' chunk of 4 bytes"),
    (_riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 4_000_000_000, 8_000_000_000 % 2**32, 2, 16)),
           _chunk(b"data", b"", 0xFFFFFFFF)), "rate and channels must be in"),
    (_riff(_chunk(b"LIST", b"abcd", 0xF0000000)), "ended inside its header"),
    (_riff(_chunk(b"fmt ", b"", 0x7FFFFFFF)), "declares a 'fmt ' chunk of"),
])
def test_malformed_wav_headers_on_a_pipe_are_one_line_before_any_work(audio_ckpt, stream, message):
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], stream + pcm16(noisy(0.3)))
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output, r.output
    assert r.stdout_bytes == b""


@pytest.mark.parametrize("head, name", [(b"fLaC\x00\x00\x00\x22", "FLAC"), (b"ID3\x04\x00\x00\x00\x00", "MP3"),
                                        (b"\x00\x00\x00\x20ftypM4A ", "MP4/M4A")])
def test_other_audio_formats_on_a_pipe_are_named(audio_ckpt, head, name):
    r = invoke(["audio", "-", "-o", "-", "--model", audio_ckpt], head + bytes(64))
    assert r.exit_code == 1 and f"standard input is {name}, not WAV" in r.output


def test_a_decompression_bomb_on_standard_input_is_refused_in_one_line(gray_ckpt):
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    r = invoke(["image", "-", "-o", "-", "--model", gray_ckpt], bomb)
    assert r.exit_code == 1 and "image too large" in r.output and "Traceback" not in r.output
