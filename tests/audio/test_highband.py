"""Which band a speech model is given of audio at each rate (denoise.audio.highband)."""

import numpy as np
import pytest

from denoise import checkpoint
from denoise.audio.highband import band_rate
from denoise.dsp import resample


def white(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, int(seconds * sr))).astype(np.float32)


@pytest.mark.parametrize("sr,expected", [(8000, 8000), (16000, 16000), (22050, 16000), (32000, 16000),
                                         (44100, 44100), (48000, 48000)])
def test_a_full_band_model_gets_the_16_khz_band_below_44_1_khz_and_the_whole_band_above(fullband, sr, expected):
    expected = fullband.sample_rate if expected >= 44100 else expected
    assert band_rate(fullband, white(2.0, sr), sr) == expected


@pytest.mark.parametrize("sr", [44100, 48000])
def test_a_16_khz_recording_at_44_1_or_48_khz_takes_the_16_khz_path_but_faint_hiss_above_8_khz_does_not(fullband, sr):
    up = resample(white(4.0, 16000), 16000, sr)
    assert band_rate(fullband, up, sr) == 16000
    hiss = white(4.0, sr, seed=1) * 10 ** (-40 / 20)  # full-band noise 40 dB under the recording
    assert band_rate(fullband, up + hiss[:, : up.shape[1]], sr) == fullband.sample_rate
    assert band_rate(fullband, np.zeros_like(up), sr) == fullband.sample_rate  # silence: nothing to tell


def test_a_16_khz_model_gets_its_own_band_at_every_rate():
    model = checkpoint.load("audio-speech", domain="audio")
    for sr in (8000, 22050, 48000):
        assert band_rate(model, white(1.0, sr), sr) == 16000


@pytest.mark.parametrize("n", [177777, 163213, 131072])  # 3 * 3 * 19753 and 227 * 719 samples; a power of two
def test_the_band_is_told_apart_at_any_length(fullband, n):
    """The spectrum is taken zero-padded to a power of two (an FFT of a length with large prime factors is
    several times slower): the decision is the same at every length."""
    sr = 48000
    up = resample(white(4.0, 16000), 16000, sr)[:, :n]
    assert band_rate(fullband, up, sr) == 16000
    hiss = white(4.0, sr, seed=1)[:, :n] * 10 ** (-40 / 20)
    assert band_rate(fullband, up + hiss, sr) == fullband.sample_rate
