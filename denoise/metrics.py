"""Quality metrics. Images are float arrays in [0, 1] of shape (H, W) or (H, W, C); audio is (T,)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np


def psnr(ref: np.ndarray, est: np.ndarray, data_range: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(ref, np.float64) - np.asarray(est, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_filter(img: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    from scipy.ndimage import correlate1d

    x = np.arange(-radius, radius + 1)
    k = np.exp(-(x**2) / (2 * sigma**2))
    k /= k.sum()
    out = correlate1d(img, k, axis=0, mode="reflect")
    return correlate1d(out, k, axis=1, mode="reflect")


def ssim(ref: np.ndarray, est: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM (Wang et al. 2004) with an 11x11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, averaged over
    channels; the settings of the published denoising tables."""
    ref = np.asarray(ref, np.float64)
    est = np.asarray(est, np.float64)
    if ref.ndim == 2:
        ref, est = ref[:, :, None], est[:, :, None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for c in range(ref.shape[2]):
        x, y = ref[:, :, c], est[:, :, c]
        mx, my = _gaussian_filter(x), _gaussian_filter(y)
        sxx = _gaussian_filter(x * x) - mx * mx
        syy = _gaussian_filter(y * y) - my * my
        sxy = _gaussian_filter(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m[5:-5, 5:-5].mean() if min(x.shape) > 10 else m.mean())
    return float(np.mean(vals))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), both signals made zero-mean."""
    ref = np.asarray(ref, np.float64) - np.mean(ref)
    est = np.asarray(est, np.float64) - np.mean(est)
    alpha = np.dot(est, ref) / max(np.dot(ref, ref), 1e-20)
    target = alpha * ref
    noise = est - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(noise, noise), 1e-20)))


def pesq_wb(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> Optional[float]:
    """Wide-band PESQ at 16 kHz, or None when the ``metrics`` extra is not installed."""
    try:
        from pesq import pesq
    except ImportError:
        return None
    from denoise.dsp import resample

    if sample_rate != 16000:
        ref, est = resample(ref, sample_rate, 16000), resample(est, sample_rate, 16000)
    try:
        return float(pesq(16000, ref, est, "wb"))
    except Exception:  # pesq raises on silent or too-short input
        return None


def stoi(ref: np.ndarray, est: np.ndarray, sample_rate: int) -> Optional[float]:
    try:
        from pystoi import stoi as _stoi
    except ImportError:
        return None
    return float(_stoi(ref, est, sample_rate, extended=False))


def metrics_available() -> bool:
    try:
        import pesq  # noqa: F401
        import pystoi  # noqa: F401
    except ImportError:
        return False
    return True
