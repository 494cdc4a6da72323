"""The band above a model's own: what a 16 kHz speech model does not see of 22.05-48 kHz audio.

That band is carried through frame by frame at the gain the model gave the top octave of its own band.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from denoise import dsp
from denoise.dsp import fit_length, resample

HIGH_BAND_GUIDE_HZ = 4000.0  # the model's gains from here to its Nyquist frequency guide the band above it
# A full-band model learnt from full-band audio and from 16 kHz audio (nothing above 8 kHz), not from bands that
# stop in between: input below this rate (22.05, 24, 32 kHz) is given to it band-limited to 8 kHz, and the
# input's band above that is carried as for a 16 kHz model.
FULL_BAND_MIN_RATE = 44100


def model_band_rate(model: nn.Module, sr: int) -> int:
    """The rate whose band the model is given of audio at ``sr``: its own, or 16 kHz for a full-band model
    and input below FULL_BAND_MIN_RATE (see there)."""
    msr = model.sample_rate
    return 16000 if msr > 16000 and 16000 < sr < FULL_BAND_MIN_RATE else msr


def low_pass(x: np.ndarray, sr: int, hz: float) -> np.ndarray:
    """(channels, L) audio at ``sr`` without anything above ``hz`` (:func:`denoise.dsp.band_limit`, in double
    precision)."""
    return dsp.band_limit(torch.from_numpy(x.astype(np.float64)), sr, hz).numpy().astype(np.float32)


def high_band(model: nn.Module, stack: np.ndarray, x: np.ndarray, y_model: np.ndarray, sr: int) -> np.ndarray:
    """The part of (channels, L) audio at ``sr`` above the model's band, scaled frame by frame by the gain
    the model gave the top octave of its band (its denoised over its noisy energy, 4–8 kHz for a 16 kHz
    model): sibilants and breath, which reach up there, are kept with the consonants that carry them, and
    noise-only frames are attenuated as the model attenuated them below. ``x`` is ``stack`` at the
    model's rate, ``y_model`` the model's output for it. The gain is a ratio, so the level
    independence of the model holds, and it looks no further ahead than the model does."""
    msr, cfg = model.sample_rate, model.stft_cfg
    high = stack - fit_length(resample(x, msr, sr), stack.shape[1])  # what the model's rate cannot hold
    spec_x, spec_y = (dsp.stft(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)), cfg) for v in (x, y_model))
    gain = top_band_gain(model, spec_x, spec_y).numpy()
    per_sample = gain_per_sample(gain, 0, np.arange(stack.shape[1]), cfg.hop_length * sr / msr)
    return (high * per_sample).astype(np.float32)


def top_band_gain(model: nn.Module, noisy: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """(channels, frames) amplitude gain the model gave the top octave of its band (HIGH_BAND_GUIDE_HZ up
    to its Nyquist frequency), in [0, 1], from (channels, F, frames) spectra of its input and output; 0
    where the input is silent there."""
    lo = int(HIGH_BAND_GUIDE_HZ / model.sample_rate * model.stft_cfg.n_fft)
    ex = noisy[:, lo:].abs().pow(2).sum(dim=1)
    ey = denoised[:, lo:].abs().pow(2).sum(dim=1)
    return torch.where(ex > 1e-12, (ey / ex.clamp_min(1e-12)).sqrt(), torch.zeros_like(ex)).clamp(0.0, 1.0)


def gain_per_sample(gain: np.ndarray, first_frame: int, t: np.ndarray, per_frame: float) -> np.ndarray:
    """(channels, len(t)) frame gains (channels, K) of frames first_frame.. at samples ``t``, linear between
    frame centres (frame j is centred on sample j * per_frame) and held beyond the first and last."""
    centres = (first_frame + np.arange(gain.shape[1])) * per_frame
    return np.stack([np.interp(t, centres, g) for g in gain])
