"""How close `denoise estimate` comes to known noise, on images and speech with noise of known strength.

Images: every BSD68 picture (gray) and CBSD68 picture (colour) with Gaussian noise of σ 5 / 10 / 25 / 50
added and the result rounded and clipped to 8 bits, as a saved file would be. Audio: every dev utterance
(16 kHz, its DC offset removed) with white noise, and with a recording from noise/dev, at 0 / 10 / 20 dB
SNR. Rows give the mean estimate, the median and the 90th percentile of the error (relative for σ, in dB
for SNR), and the worst case; "unknown" counts pictures too clipped to tell. The time is per image or per second of audio.

    python benchmarks/noise_estimates.py
    python benchmarks/noise_estimates.py --limit 10     # a quick look
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402

from denoise import io  # noqa: E402
from denoise.report.estimate import audio_noise, image_noise  # noqa: E402


def _image_rows(folder: Path, limit: int, label: str) -> list[dict]:
    files = io.list_files([folder], io.IMAGE_EXTS)[:limit]
    rows = []
    for sigma in (5, 10, 25, 50):
        est, t0 = [], time.perf_counter()
        for i, f in enumerate(files):
            clean = io.read_image(f).pixels * 255.0
            noisy = np.clip(np.round(clean + np.random.default_rng(i).normal(0, sigma, clean.shape)), 0, 255)
            est.append(image_noise(noisy / 255.0).sigma)
        est = np.array(est)
        err = np.abs(est[np.isfinite(est)] - sigma) / sigma
        rows.append({"images": label, "σ": sigma, "unknown": int(np.count_nonzero(~np.isfinite(est))),
                     "mean estimate": float(np.mean(est[np.isfinite(est)])),
                     "median error %": 100 * float(np.median(err)), "p90 error %": 100 * float(np.quantile(err, 0.9)),
                     "worst %": 100 * float(err.max()), "ms/image": 1000 * (time.perf_counter() - t0) / len(files)})
    return rows


def _mix(speech: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    noise = np.resize(noise, speech.shape)
    return speech + noise * np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (snr / 10))


def _audio_rows(root: Path, limit: int) -> list[dict]:
    speech = io.list_files([root / "audio/speech/dev"], io.AUDIO_EXTS)[:limit]
    noises = io.list_files([root / "audio/noise/dev"], io.AUDIO_EXTS)
    rows = []
    for kind in ("white", "noise/dev"):
        for snr in (0, 10, 20):
            est, seconds, t0 = [], 0.0, time.perf_counter()
            for i, f in enumerate(speech):
                s, sr = io.read_audio(f)
                s = s[0] - s[0].mean()
                if kind == "white":
                    n = np.random.default_rng(i).standard_normal(len(s))
                else:
                    n = io.read_audio(noises[i % len(noises)])[0][0]
                    n = n - n.mean()
                est.append(audio_noise(_mix(s, n, snr), sr).snr_db)
                seconds += len(s) / sr
            measured = np.array([e for e in est if e is not None])  # None: "not measurable", counted apart
            err = np.abs(measured - snr)
            rows.append({"noise": kind, "SNR dB": snr, "not measurable": len(est) - len(measured),
                         "mean estimate": float(np.mean(measured)),
                         "median error dB": float(np.median(err)), "p90 error dB": float(np.quantile(err, 0.9)),
                         "worst dB": float(err.max()), "ms per s of audio": 1000 * (time.perf_counter() - t0) / seconds})
    return rows


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=10_000, help="files per set")
    ap.add_argument("--audio-only", action="store_true", help="Leave out the (slower) image sets.")
    args = ap.parse_args()
    root = data_root(args.data_root)
    print(f"machine: {machine()}\n")
    if not args.audio_only:
        print(table(_image_rows(root / "images/bsd68-gray", args.limit, "BSD68 gray")
                    + _image_rows(root / "images/cbsd68-color", args.limit, "CBSD68 colour"), floats=1))
        print()
    print(table(_audio_rows(root, args.limit), floats=2))


if __name__ == "__main__":
    main()
