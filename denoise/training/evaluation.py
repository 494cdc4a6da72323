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

from denoise import io, metrics
from denoise.audio import chunks
from denoise.image import arrays
from denoise.training.data import list_files
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


MIN_EVAL_SECONDS = 1.0  # shorter references are skipped: STOI needs about a second of speech, PESQ a quarter
SILENT_DBFS = -60.0  # references quieter than this (RMS) are skipped: every score against silence is meaningless


def _readable(files: Sequence[Path], read: Callable[[Path], Any]) -> list[tuple[Path, Any]]:
    """(f, ``read(f)``) for every file that can be read; the others are skipped with a warning naming them."""
    out = []
    for f in files:
        try:
            out.append((f, read(f)))
        except io.InputError as exc:
            log.warning("skipped %s: %s", f, exc)
    return out


def eval_images(model: nn.Module, data_dir: str | Path, sigmas: Sequence[float], seed: int = 0,
                limit: Optional[int] = None, tick: Optional[Callable[[], None]] = None,
                ensemble: bool = False) -> list[dict[str, Any]]:
    """One row per σ: mean PSNR and SSIM of the noisy input and of the model's output (with the x8
    self-ensemble when ``ensemble``). Unreadable files are skipped with a warning; ``files`` counts those
    scored."""
    files = eval_image_files(data_dir, limit)
    clean_set = [px for _, px in _readable(files, lambda f: io.read_image(f).pixels)]
    if not clean_set:
        raise io.InputError(f"no readable images in {data_dir}")
    rows = []
    for sigma in sigmas:
        acc: dict[str, list[float]] = {k: [] for k in ("noisy_psnr", "noisy_ssim", "psnr", "ssim")}
        for i, clean in enumerate(clean_set):
            noisy = add_benchmark_noise(clean, i, sigma, seed)
            out = to8(arrays.denoise_image_array(model, noisy, ensemble=ensemble))
            n8 = to8(noisy)
            acc["noisy_psnr"].append(metrics.psnr(clean, n8))
            acc["noisy_ssim"].append(metrics.ssim(clean, n8))
            acc["psnr"].append(metrics.psnr(clean, out))
            acc["ssim"].append(metrics.ssim(clean, out))
            if tick:
                tick()
        rows.append({"sigma": sigma, "files": len(clean_set), **{k: float(np.mean(v)) for k, v in acc.items()}})
    return rows


def _usable_reference(path: Path, clean: np.ndarray, sr: int) -> bool:
    """A speech reference that can be scored: long enough, and not silent (warns about the others)."""
    if len(clean) < MIN_EVAL_SECONDS * sr:
        log.warning("skipped %s: %.2f s long, shorter than the %.0f s the metrics need", path, len(clean) / sr,
                    MIN_EVAL_SECONDS)
        return False
    level = 10 * np.log10(max(float(np.mean(np.square(clean, dtype=np.float64))), 1e-20))
    if level < SILENT_DBFS:
        log.warning("skipped %s: silent (%.0f dBFS), nothing to score against", path, level)
        return False
    return True


def _score_audio(clean: np.ndarray, sig: np.ndarray, sr: int, full: bool) -> dict[str, Optional[float]]:
    """SI-SDR, and with the metrics extra PESQ-wb and STOI (None where one cannot be computed); the
    metric libraries' own warnings are kept off the terminal."""
    import warnings

    scores: dict[str, Optional[float]] = {"si_sdr": metrics.si_sdr(clean, sig)}
    if full:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores["pesq"] = metrics.pesq_wb(clean, sig, sr)
            scores["stoi"] = metrics.stoi(clean, sig, sr)
    return scores


def eval_audio(model: nn.Module, speech_dir: str | Path, noise_dir: str | Path, snrs: Sequence[float],
               seed: int = 0, limit: Optional[int] = None,
               tick: Optional[Callable[[], None]] = None) -> list[dict[str, Any]]:
    """One row per SNR: mean SI-SDR (and PESQ-wb, STOI with the metrics extra) of mixture and output.
    Speech file i is mixed with noise file i mod n, looped or cut to the speech length, at the model's
    sample rate. Unreadable, silent and too short (``MIN_EVAL_SECONDS``) speech files are skipped with a
    warning; ``files`` counts those scored, and a metric that could not be computed for some of them
    (PESQ on near-silent output) gets a ``<metric>_files`` count beside its mean."""
    sr = model.sample_rate
    speech_files = eval_speech_files(speech_dir, limit)
    noise_files = list_files([noise_dir], io.AUDIO_EXTS)
    if not speech_files or not noise_files:
        raise io.InputError("eval needs speech and noise audio files")
    speech = [(f, x) for f, x in _readable(speech_files, lambda f: read_mono(f, sr)) if _usable_reference(f, x, sr)]
    noise = [x for _, x in _readable(noise_files, lambda f: read_mono(f, sr))]
    if not speech or not noise:
        raise io.InputError("no usable speech or noise files (see the warnings above)")
    full = metrics.metrics_available()
    return [_audio_row(model, [x for _, x in speech], noise, snr, seed, full, tick) for snr in snrs]


def _audio_row(model: nn.Module, speech: list[np.ndarray], noise: list[np.ndarray], snr: float, seed: int,
               full: bool, tick: Optional[Callable[[], None]]) -> dict[str, Any]:
    """One SNR's row of :func:`eval_audio`: each metric's mean over the files where it could be computed."""
    sr = model.sample_rate
    acc: dict[str, list[float]] = {}
    for i, clean in enumerate(speech):
        mix = mix_for_eval(clean, noise, i, snr, seed)
        out = chunks.denoise_audio_array(model, mix, sr)
        for name, sig in (("noisy", mix), ("out", out)):
            for metric, value in _score_audio(clean, sig, sr, full).items():
                acc.setdefault(f"{name}_{metric}", []).extend([] if value is None else [value])
        if tick:
            tick()
    row: dict[str, Any] = {"snr": snr, "files": len(speech)}
    for key, values in acc.items():
        row[key] = float(np.mean(values)) if values else None
        if len(values) < len(speech):
            row[f"{key}_files"] = len(values)
    return row
