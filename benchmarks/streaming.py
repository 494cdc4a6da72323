"""`denoise audio --stream`: delay, real-time factor on one core, and how far the output is from a file run.

Each dev utterance (16 kHz speech/dev, and 48 kHz speech48k/dev) gets noise/dev noise at 5 dB SNR and is
denoised twice through `denoise.runner.pipes.denoise_audio_stream`, the code behind `denoise audio - -o -`:
as a file would be (10 s chunks) and with `--stream`: frame by frame for a causal model (blocks of one
STFT hop, `denoise.audio.realtime`), else 0.1 s chunks. Per sample rate the table gives the algorithmic delay
(causal: the STFT window's reach, a hop of waiting, the resampling filters; chunked: a chunk, its
right-hand context, a cross-fade), the compute time of one block (median and 95th percentile over all
blocks, one thread), the real-time factor (compute time over audio time; under 1 keeps up), the delay
including the 95th-percentile compute, the SI-SDR of the streamed output against the file run's, and
the SI-SDR of both against the clean speech (the mean, and the most the stream lost against the file
run on one utterance: how far the two differ says nothing of which is better).

    python benchmarks/streaming.py
    python benchmarks/streaming.py --limit 5 --model runs/x/best.pt
"""

from __future__ import annotations

import io as stdio
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.dsp import resample  # noqa: E402
from denoise.io.pipes import PcmFormat, PcmSink, PcmStream, read_wav_header  # noqa: E402
from denoise.audio.realtime import CausalStream  # noqa: E402
from denoise.models import is_causal  # noqa: E402
from denoise.runner.pipes import STREAM_CHUNKING, denoise_audio_stream, stream_latency_seconds  # noqa: E402


def _mixtures(root: Path, folder: str, limit: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(noisy, clean, rate) per utterance."""
    noises = io.list_files([root / "audio/noise/dev"], io.AUDIO_EXTS)
    out = []
    for i, f in enumerate(io.list_files([root / folder], io.AUDIO_EXTS)[:limit]):
        s, sr = io.read_audio(f)
        s = s.mean(axis=0)
        n, nsr = io.read_audio(noises[i % len(noises)])
        n = np.resize(resample(n.mean(axis=0), nsr, sr), s.shape)
        out.append((s + n * np.sqrt(np.mean(s**2) / max(np.mean(n**2), 1e-12) / 10 ** 0.5), s, sr))
    return out


def _wav(x: np.ndarray, sr: int) -> bytes:
    buf = stdio.BytesIO()
    PcmSink(buf, PcmFormat("f32le", sr, 1), wav=True).write(x[None])
    return buf.getvalue()


def _run(model: torch.nn.Module, wav: bytes, stream: bool) -> tuple[np.ndarray, list[float]]:
    """The output, and the compute time of each chunk (time spent between reads of the input)."""
    times: list[float] = []
    src = stdio.BytesIO(wav)
    real_read = src.read
    last = [time.perf_counter()]

    def timed_read(n: int = -1) -> bytes:  # time between the end of one read and the next is compute
        now = time.perf_counter()
        if now - last[0] > 1e-4:
            times.append(now - last[0])
        data = real_read(n)
        last[0] = time.perf_counter()
        return data

    src.read = timed_read  # type: ignore[method-assign]
    out = stdio.BytesIO()
    denoise_audio_stream(model, src, out, stream=stream)
    out.seek(0)
    fmt, size = read_wav_header(out)
    reader, blocks = PcmStream(out, fmt, size), []
    while (b := reader.read(1 << 16)) is not None:
        blocks.append(b)
    return np.concatenate(blocks, axis=1)[0], times


def _rows(model: torch.nn.Module, mixtures: list[tuple[np.ndarray, np.ndarray, int]]) -> dict:
    chunk_times, agree, audio, sdr_file, sdr_stream = [], [], 0.0, [], []
    for x, clean, sr in mixtures:
        wav = _wav(x, sr)
        ref, _ = _run(model, wav, stream=False)
        out, times = _run(model, wav, stream=True)
        chunk_times += times
        agree.append(metrics.si_sdr(out, ref))
        sdr_file.append(metrics.si_sdr(clean, ref))
        sdr_stream.append(metrics.si_sdr(clean, out))
        audio += len(x) / sr
    loss = np.array(sdr_file) - np.array(sdr_stream)
    rate = mixtures[0][2]
    delay = CausalStream(model, rate, 1).latency_seconds if is_causal(model) else stream_latency_seconds()
    t = np.array(chunk_times)
    return {"rate": f"{rate / 1000:g} kHz", "files": len(mixtures), "audio s": audio,
            "delay ms": 1000 * delay, "block compute ms (median)": 1000 * float(np.median(t)),
            "p95 ms": 1000 * float(np.quantile(t, 0.95)), "real-time factor": f"{float(t.sum()) / audio:.3f}",
            "delay + p95 ms": 1000 * (delay + float(np.quantile(t, 0.95))),
            "SI-SDR vs file run dB (median)": float(np.median(agree)), "worst dB": float(np.min(agree)),
            "SI-SDR vs clean: file / stream dB (mean)": f"{np.mean(sdr_file):.2f} / {np.mean(sdr_stream):.2f}",
            "stream's largest loss dB": float(loss.max())}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=20, help="files per sample rate")
    ap.add_argument("--model", default="audio-speech", help="a shipped model's name or a checkpoint")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = data_root(args.data_root)
    model = checkpoint.load(args.model, "audio")
    how = ("frame by frame (causal model)" if is_causal(model) else
           f"chunks of {STREAM_CHUNKING.chunk * 1000:.0f} ms, context {STREAM_CHUNKING.context * 1000:.0f} ms, "
           f"fade {STREAM_CHUNKING.fade * 1000:.0f} ms")
    print(f"machine: {machine()}; model {args.model}; {how}\n")
    rows = [_rows(model, _mixtures(root, folder, args.limit)) for folder in ("audio/speech/dev", "audio/speech48k/dev")]
    print(table(rows, floats=1))


if __name__ == "__main__":
    main()
