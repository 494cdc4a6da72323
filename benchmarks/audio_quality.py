"""Speech denoising quality and CPU speed: ours against noisereduce, RNNoise and DeepFilterNet3.

speech/dev is mixed with noise/dev at 0, 5 and 10 dB (seeded, the same mixtures as `denoise eval`), in
two conditions: the files' natural levels, and every mixture normalised to -26 dBFS. Each method's
output is aligned to the clean reference (same length; any constant delay a peer adds is found by
cross-correlation within ±50 ms and removed) and scored with PESQ-wb, STOI and SI-SDR.

Peers are optional (pip install -e ".[bench]" plus pyrnnoise, see README): a missing one is left out.
    python benchmarks/audio_quality.py                 # all 85 dev files
    python benchmarks/audio_quality.py --limit 20      # quicker
    python benchmarks/audio_quality.py --model audio-speech audio-speech-unet runs/x/best.pt
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402
from _peers import available  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.audio import chunks  # noqa: E402
from denoise.training.data import list_files  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.training.evaluation import mix_for_eval, read_mono  # noqa: E402

SR = 16000


def peers() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {name: (lambda x, run=run: run(x, SR)) for name, run in available().items()}


def align(y: np.ndarray, ref: np.ndarray, max_lag: int = SR // 20) -> np.ndarray:
    """``y`` shifted by the lag (|lag| <= max_lag) that best matches ``ref``, cut or padded to its length."""
    y = np.asarray(y, np.float64).reshape(-1)
    n = len(ref)
    y = np.pad(y, (0, max(0, n + max_lag - len(y))))
    seg = ref[: min(n, 5 * SR)]
    best, best_c = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1, 1):
        a = y[max(0, lag) : max(0, lag) + len(seg)] if lag >= 0 else np.pad(y, (-lag, 0))[: len(seg)]
        c = float(np.dot(a[: len(seg)], seg))
        if c > best_c:
            best, best_c = lag, c
    y = y[best:] if best >= 0 else np.pad(y, (-best, 0))
    return np.pad(y[:n], (0, max(0, n - len(y[:n]))))


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--model", nargs="+", default=["audio-speech"],
                    help="shipped names or checkpoints, scored in the same run")
    ap.add_argument("--limit", type=int, default=None, help="First N speech/dev files.")
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    ap.add_argument("--decimals", type=int, default=2, help="decimals in the quality tables")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.ERROR)
    root = data_root(args.data_root)
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {"noisy input": lambda x: x}
    for name in args.model:
        model = checkpoint.load(name, domain="audio")
        methods[f"denoise ({name})"] = lambda x, m=model: chunks.denoise_audio_array(m, x.astype(np.float32), SR)
    methods.update(peers())
    speech = [read_mono(f, SR) for f in list_files([root / "audio/speech/dev"], io.AUDIO_EXTS)[: args.limit]]
    noise = [read_mono(f, SR) for f in list_files([root / "audio/noise/dev"], io.AUDIO_EXTS)]
    print(f"# Speech denoising, speech/dev ({len(speech)} files) + noise/dev, PESQ-wb / STOI / SI-SDR")
    print(f"machine: {machine()}\n")
    seconds = {k: 0.0 for k in methods}
    audio_s = 0.0
    for cond in ("natural level", "-26 dBFS"):
        rows = []
        for snr in args.snr:
            acc: dict[str, dict[str, list[float]]] = {k: {"pesq": [], "stoi": [], "si_sdr": []} for k in methods}
            for i, clean in enumerate(speech):
                mix = mix_for_eval(clean, noise, i, snr)
                ref = clean
                if cond == "-26 dBFS":
                    g = 10 ** (-26 / 20) / max(np.sqrt(np.mean(mix**2)), 1e-12)
                    mix, ref = mix * g, clean * g
                if cond == "natural level":
                    audio_s += len(mix) / SR
                for name, fn in methods.items():
                    t0 = time.perf_counter()
                    y = fn(mix.astype(np.float32))
                    if cond == "natural level":
                        seconds[name] += time.perf_counter() - t0
                    y = align(y, ref)
                    p = metrics.pesq_wb(ref, y, SR)
                    if p is not None:
                        acc[name]["pesq"].append(p)
                    acc[name]["stoi"].append(metrics.stoi(ref, y, SR))
                    acc[name]["si_sdr"].append(metrics.si_sdr(ref, y))
            for name in methods:
                rows.append({"SNR dB": f"{snr:g}", "method": name,
                             **{k: float(np.mean(v)) if v else None for k, v in
                                (("PESQ-wb", acc[name]["pesq"]), ("STOI", acc[name]["stoi"]),
                                 ("SI-SDR dB", acc[name]["si_sdr"]))}})
        print(f"## {cond}\n\n{table(rows, args.decimals)}\n")
    speed = [{"method": k, "× real time (CPU)": audio_s / v if v > 0 else None} for k, v in seconds.items()
             if k != "noisy input"]
    print(f"## CPU speed (natural-level pass, {audio_s:.0f} s of audio)\n\n{table(speed, 1)}")


if __name__ == "__main__":
    main()
