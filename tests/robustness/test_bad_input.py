"""The bad-input battery of issue #4: one clear line per failing file, the rest of the batch carries on,
exit code 1, and nothing partial or empty is left behind."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from denoise.io import read_image
from tests.conftest import run
from tests.robustness.cases import make_audio, make_images


def _failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("failed: ")]


def _one_line_per_bad_file(r, bad: dict[str, str], out: Path) -> None:
    """Exit code 1, no traceback, exactly one `failed:` line per bad file with the expected reason, and
    no output for it."""
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    lines = _failed_lines(r.output)
    assert len(lines) == len(bad), lines
    for name, words in bad.items():
        hits = [line for line in lines if name in line]
        assert len(hits) == 1 and words in hits[0], (name, hits)
        assert not (out / name).exists()


def _no_leftovers(out: Path) -> None:
    hidden = [p for p in out.rglob(".*")]
    assert hidden == [], f"temporary files left: {hidden}"
    assert all(p.stat().st_size > 0 for p in out.rglob("*") if p.is_file())


def test_image_battery(tmp_path, gray_ckpt):
    good, bad = make_images(tmp_path / "in")
    r = run("image", tmp_path / "in", "-o", tmp_path / "out", "--model", gray_ckpt)
    _one_line_per_bad_file(r, bad, tmp_path / "out")
    for name in good:
        src, dst = read_image(tmp_path / "in" / name), read_image(tmp_path / "out" / name)
        assert dst.pixels.shape == src.pixels.shape and dst.mode == src.mode and dst.depth == src.depth, name
        assert (dst.alpha is None) == (src.alpha is None), name
    assert f"{len(good)} done, {len(bad)} failed" in r.output
    assert "only the first is used" in r.output  # multi-frame GIF and TIFF say what is done
    with Image.open(tmp_path / "out" / "exif_rotated.jpg") as im:
        assert im.getexif().get(0x0112) == 6 and im.size == (30, 20)
    _no_leftovers(tmp_path / "out")


def test_audio_battery(tmp_path, audio_ckpt):
    good, bad = make_audio(tmp_path / "in")
    r = run("audio", tmp_path / "in", "-o", tmp_path / "out", "--model", audio_ckpt)
    _one_line_per_bad_file(r, bad, tmp_path / "out")
    for name in good:
        a, b = sf.info(str(tmp_path / "in" / name)), sf.info(str(tmp_path / "out" / name))
        assert (a.samplerate, a.channels, a.frames, a.subtype) == (b.samplerate, b.channels, b.frames, b.subtype), name
        y, _ = sf.read(str(tmp_path / "out" / name))
        assert np.isfinite(y).all(), name
    assert "NaN or Inf samples were treated as silence" in r.output
    _no_leftovers(tmp_path / "out")


def test_truncated_wav_data_chunk_is_used_as_far_as_it_goes_with_a_warning(tmp_path, audio_ckpt):
    make_audio(tmp_path / "in")
    r = run("audio", tmp_path / "in" / "truncated_data.wav", "-o", tmp_path / "o.wav", "--model", audio_ckpt)
    assert r.exit_code == 0 and "is truncated: its header declares 8000 frames, the file holds 4000" in r.output
    assert sf.info(str(tmp_path / "o.wav")).frames == 4000


def test_paths_that_are_not_there(tmp_path, gray_ckpt):
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "notes.txt").write_text("x")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    r = run("image", tmp_path / "missing.png", tmp_path / "only_text", tmp_path / "ok.png", "-o", tmp_path / "out",
            "--model", gray_ckpt)
    assert r.exit_code == 1
    lines = _failed_lines(r.output)
    assert any("missing.png" in line and "no such file" in line for line in lines)
    assert any("only_text" in line and "files found" in line for line in lines), lines
    assert (tmp_path / "out" / "ok.png").is_file()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path, gray_ckpt):
    p = tmp_path / "secret.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(p)
    p.chmod(0)
    r = run("image", p, "-o", tmp_path / "o.png", "--model", gray_ckpt)
    assert r.exit_code == 1 and "permission denied" in r.output.lower()


def test_unwritable_output_directory(tmp_path, gray_ckpt, monkeypatch):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    r = run("image", tmp_path / "a.png", "-o", blocker / "a.png", "--model", gray_ckpt)
    assert r.exit_code == 1 and len(_failed_lines(r.output)) == 1 and "Traceback" not in r.output
    assert blocker.read_text().startswith("a file")


def test_models_that_are_not_models(tmp_path, gray_ckpt, audio_ckpt):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "text.pt").write_text("hello")
    data = gray_ckpt.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 64] = b"\xff" * 64
    (tmp_path / "corrupt.pt").write_bytes(bytes(corrupt))
    for bad in ("text.pt", "truncated.pt", tmp_path / "missing.pt"):
        r = run("image", tmp_path / "a.png", "-o", tmp_path / "o.png", "--model", tmp_path / bad)
        assert r.exit_code == 2 and r.output.startswith("error: ") and len(r.output.splitlines()) == 1, r.output
    r = run("image", tmp_path / "a.png", "-o", tmp_path / "o.png", "--model", tmp_path / "corrupt.pt")
    assert r.exit_code == 2 and "NaN or Inf weights" in r.output, r.output  # 0xff bytes are NaN floats
    assert not (tmp_path / "o.png").exists()
    r = run("image", tmp_path / "a.png", "-o", tmp_path / "o2.png", "--model", audio_ckpt)
    assert r.exit_code == 2 and "audio model" in r.output
    r = run("audio", tmp_path / "a.wav", "-o", tmp_path / "o.wav", "--model", gray_ckpt)
    assert r.exit_code == 2 and "image model" in r.output
    assert not (tmp_path / "o2.png").exists() and not (tmp_path / "o.wav").exists()


def test_training_data_problems_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(small / "s.png")
    silent = tmp_path / "silent"
    silent.mkdir()
    sf.write(silent / "s.wav", np.zeros(16000, np.float32), 16000)
    speech = tmp_path / "speech"
    speech.mkdir()
    sf.write(speech / "s.wav", (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    cases = [
        (["--domain", "image", "--data", tmp_path / "empty"], "no images found"),
        (["--domain", "image", "--data", small, "--patch-size", "32"], "no usable images"),
        (["--domain", "image", "--data", small, "--patch-size", "32"], "a patch size of at most 10"),
        (["--domain", "audio", "--data", silent], "silent"),
        (["--domain", "audio", "--data", speech, "--noise-dir", tmp_path / "empty"], "no noise audio files"),
        (["--domain", "image", "--data", tmp_path / "nope"], "no such data directory"),
    ]
    for i, (args, words) in enumerate(cases):
        r = run("train", *args, "--out", tmp_path / f"run{i}", "--steps", "1", "--workers", "0")
        assert r.exit_code == 1, (args, r.output)
        assert words in r.output and "Traceback" not in r.output, (args, r.output)
        assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 1
