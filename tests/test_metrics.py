"""denoise.metrics against reference values from other implementations."""

import math

import numpy as np
import pytest

from denoise import metrics

# scikit-image 0.26's structural_similarity(ref, est, gaussian_weights=True, sigma=1.5,
# use_sample_covariance=False, data_range=1.0) on the pair below: the settings of the published tables
SKIMAGE_SSIM = 0.44311006788220214


def _pair() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:64, 0:80] / 64.0
    ref = 0.5 + 0.4 * np.sin(3 * x + 2 * y)
    est = np.clip(ref + 0.05 * np.random.default_rng(0).standard_normal(ref.shape), 0, 1)
    return ref, est


def test_ssim_matches_the_reference_implementation():
    ref, est = _pair()
    assert metrics.ssim(ref, est) == pytest.approx(SKIMAGE_SSIM, abs=1e-9)
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    colour = np.stack([ref, ref, ref], axis=2), np.stack([est, est, est], axis=2)
    assert metrics.ssim(*colour) == pytest.approx(SKIMAGE_SSIM, abs=1e-9)  # the mean over channels


def test_psnr_and_si_sdr_on_values_worked_out_by_hand():
    ref = np.zeros((10, 10))
    assert metrics.psnr(ref, ref + 0.1) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert metrics.psnr(ref, ref) == math.inf
    t = np.sin(np.linspace(0, 20, 1000))
    noise = np.cos(np.linspace(0, 31, 1000))
    noise -= noise.mean()
    noise -= noise.dot(t - t.mean()) / (t - t.mean()).dot(t - t.mean()) * (t - t.mean())  # orthogonal to t
    scaled = 0.1 * noise * np.linalg.norm(t - t.mean()) / np.linalg.norm(noise)  # 20 dB below the target
    assert metrics.si_sdr(t, 3.0 * (t + scaled)) == pytest.approx(20.0, abs=1e-6)  # and scale-invariant
