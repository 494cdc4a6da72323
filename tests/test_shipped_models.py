"""The shipped checkpoints must measurably improve synthetic noisy inputs (generated inputs only)."""

import numpy as np

import denoise
from denoise import metrics
from tests.conftest import smooth_image, speechlike


def _noisy(clean: np.ndarray, sigma: float) -> np.ndarray:
    return clean + np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32) * sigma / 255


def test_image_gray_improves_psnr():
    clean = smooth_image(96, 128, 1, seed=3)[:, :, 0]
    noisy = _noisy(clean, 25)
    out = np.clip(denoise.denoise_image(noisy, device="cpu"), 0, 1)
    assert metrics.psnr(clean, out) > metrics.psnr(clean, np.clip(noisy, 0, 1)) + 5


def test_image_color_improves_psnr():
    clean = smooth_image(96, 128, 3, seed=4)
    noisy = _noisy(clean, 25)
    out = np.clip(denoise.denoise_image(noisy, device="cpu"), 0, 1)
    assert metrics.psnr(clean, out) > metrics.psnr(clean, np.clip(noisy, 0, 1)) + 5


def test_audio_speech_improves_si_sdr_at_any_level():
    clean = speechlike(4.0, 16000, seed=5)
    noise = np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB SNR, white
    for gain in (1.0, 10 ** (-50 / 20) / 0.1):  # as recorded, and speech at -50 dBFS
        mix = (clean + noise) * gain
        out = denoise.denoise_audio(mix, 16000, device="cpu")
        assert metrics.si_sdr(clean, out) > metrics.si_sdr(clean, mix) + 3
