"""`denoise eval`: add seeded noise in memory, denoise, and score noisy vs denoised.

Image protocol (that of the published DnCNN/KAIR tables): ``noisy = clean + N(0, (σ/255)²)`` in float
without clipping; the output is clipped to [0, 1] and rounded to 8 bits before PSNR/SSIM. The "noisy" row
is the noisy image clipped and rounded the same way (what saving it as an 8-bit file would give).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from torch import nn

from denoise import inference, io, metrics
from denoise.data import list_files
from denoise.dsp import resample

log = logging.getLogger(__name__)


def to8(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to 8 bits, as the published tables do before PSNR."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0) / 255.0


def add_benchmark_noise(clean: np.ndarray, index: int, sigma: float, seed: int = 0) -> np.ndarray:
    """clean + N(0, (σ/255)²) in float, no clipping; seeded per (seed, image index, σ) so every script
    that scores image ``index`` at ``sigma`` sees the same noise."""
    rng = np.random.default_rng([seed, index, int(round(sigma * 1000))])
    return clean + rng.standard_normal(clean.shape).astype(np.float32) * (sigma / 255.0)


def read_mono(path: Path, sample_rate: int) -> np.ndarray:
    """An audio file as mono float32 at ``sample_rate``."""
    audio, sr = io.read_audio(path)
    return resample(audio.mean(axis=0), sr, sample_rate).astype(np.float32)


def mix_for_eval(clean: np.ndarray, noise: Sequence[np.ndarray], index: int, snr: float,
                 seed: int = 0) -> np.ndarray:
    """Speech ``index`` mixed at ``snr`` dB with noise ``index mod len(noise)``, looped or cut to the
    speech length at a seeded offset (float64 arithmetic, as the published eval numbers were made)."""
    rng = np.random.default_rng([seed, index, int(round(snr * 1000)) + 10**6])
    nz = noise[index % len(noise)]
    nz = np.tile(nz, int(np.ceil(len(clean) / len(nz))))
    start = int(rng.integers(0, len(nz) - len(clean) + 1))
    nz = nz[start : start + len(clean)]
    p_c, p_n = np.mean(clean**2), max(np.mean(nz**2), 1e-12)
    return clean + nz * np.sqrt(p_c / (p_n * 10 ** (snr / 10)))


def eval_image_files(data_dir: str | Path, limit: Optional[int] = None) -> list[Path]:
    """The images :func:`eval_images` scores, in order: the first ``limit`` found under ``data_dir``."""
    return list_files([data_dir], io.IMAGE_EXTS)[:limit]


def eval_speech_files(speech_dir: str | Path, limit: Optional[int] = None) -> list[Path]:
    """The speech files :func:`eval_audio` mixes and scores, in order: the first ``limit``."""
    return list_files([speech_dir], io.AUDIO_EXTS)[:limit]


def eval_images(model: nn.Module, data_dir: str | Path, sigmas: Sequence[float], seed: int = 0,
                limit: Optional[int] = None, tick: Optional[Callable[[], None]] = None,
                ensemble: bool = False) -> list[dict[str, Any]]:
    """One row per σ: mean PSNR and SSIM of the noisy input and of the model's output (with the x8
    self-ensemble when ``ensemble``)."""
    files = eval_image_files(data_dir, limit)
    if not files:
        raise io.InputError(f"no images in {data_dir}")
    clean_set = [io.read_image(f).pixels for f in files]
    rows = []
    for sigma in sigmas:
        acc: dict[str, list[float]] = {k: [] for k in ("noisy_psnr", "noisy_ssim", "psnr", "ssim")}
        for i, clean in enumerate(clean_set):
            noisy = add_benchmark_noise(clean, i, sigma, seed)
            out = to8(inference.denoise_image_array(model, noisy, ensemble=ensemble))
            n8 = to8(noisy)
            acc["noisy_psnr"].append(metrics.psnr(clean, n8))
            acc["noisy_ssim"].append(metrics.ssim(clean, n8))
            acc["psnr"].append(metrics.psnr(clean, out))
            acc["ssim"].append(metrics.ssim(clean, out))
            if tick:
                tick()
        rows.append({"sigma": sigma, "files": len(files), **{k: float(np.mean(v)) for k, v in acc.items()}})
    return rows


def eval_audio(model: nn.Module, speech_dir: str | Path, noise_dir: str | Path, snrs: Sequence[float],
               seed: int = 0, limit: Optional[int] = None,
               tick: Optional[Callable[[], None]] = None) -> list[dict[str, Any]]:
    """One row per SNR: mean SI-SDR (and PESQ-wb, STOI with the metrics extra) of mixture and output.
    Speech file i is mixed with noise file i mod n, looped or cut to the speech length, at the model's
    sample rate."""
    sr = model.config.sample_rate
    speech_files = eval_speech_files(speech_dir, limit)
    noise_files = list_files([noise_dir], io.AUDIO_EXTS)
    if not speech_files or not noise_files:
        raise io.InputError("eval needs speech and noise audio files")
    speech = [read_mono(f, sr) for f in speech_files]
    noise = [read_mono(f, sr) for f in noise_files]
    full = metrics.metrics_available()
    rows = []
    for snr in snrs:
        acc: dict[str, list[float]] = {}
        for i, clean in enumerate(speech):
            mix = mix_for_eval(clean, noise, i, snr, seed)
            out = inference.denoise_audio_array(model, mix, sr)
            for name, sig in (("noisy", mix), ("out", out)):
                acc.setdefault(f"{name}_si_sdr", []).append(metrics.si_sdr(clean, sig))
                if full:
                    p = metrics.pesq_wb(clean, sig, sr)
                    if p is not None:
                        acc.setdefault(f"{name}_pesq", []).append(p)
                    acc.setdefault(f"{name}_stoi", []).append(metrics.stoi(clean, sig, sr))
            if tick:
                tick()
        rows.append({"snr": snr, "files": len(speech), **{k: float(np.mean(v)) for k, v in acc.items()}})
    return rows
