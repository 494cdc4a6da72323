"""What a speech model is given of audio at any rate, and the band it is not given.

The model gets the input resampled to its rate, or, for a full-band model and input whose band ends below its
own, the band it was trained on (:func:`model_input`). The rest of the input's band (above a 16 kHz model's,
or above the cut) is carried through frame by frame at the gain the model gave the top octave of its band.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from denoise import dsp
from denoise.dsp import fit_length, resample

HIGH_BAND_GUIDE_HZ = 4000.0  # the model's gains from here to its Nyquist frequency guide the band above it
# A full-band model learnt from full-band audio and from 16 kHz audio (nothing above 8 kHz), not from bands that
# stop in between: input below this rate (22.05, 24, 32 kHz) is given to it as 16 kHz input is, and the input's
# band above that is carried as for a 16 kHz model.
FULL_BAND_MIN_RATE = 44100
# 44.1 and 48 kHz audio with less than this share of its energy above 8.2 kHz (dB) holds a 16 kHz recording (an
# upsampled one has -60 dB or less there; white hiss 40 dB under the recording lifts it to -42 dB), and takes
# the 16 kHz path, so that it comes out as the recording at 16 kHz does.
EMPTY_ABOVE_DB = -50.0


def band_rate(model: nn.Module, audio: np.ndarray, sr: int) -> int:
    """The rate whose band a model is given of (channels, L) ``audio`` at ``sr``: the model's own; for a
    full-band model, ``sr`` itself at 16 kHz and below, 16 kHz up to FULL_BAND_MIN_RATE, and 16 kHz for
    44.1-48 kHz audio that holds nothing above 8 kHz (EMPTY_ABOVE_DB)."""
    msr = model.sample_rate
    if msr <= 16000:
        return msr
    if sr < FULL_BAND_MIN_RATE:
        return min(sr, 16000)
    n = audio.shape[-1]  # float32 in torch: a third of numpy's time (np.hanning alone costs as much as the FFT)
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)) * torch.hann_window(n, periodic=False)
    # zero-padded to a power of two: a clip's own length can have large prime factors, where the FFT is
    # several times slower (benchmarks/README.md, "Short clips at 48 kHz"); the padding only samples the
    # spectrum more finely, so the share of energy above 8.2 kHz stays the same
    size = 1 << max(n - 1, 1).bit_length()
    spec = torch.fft.rfft(x, n=size, dim=-1).abs().pow(2)
    total, above = float(spec.sum()), float(spec[..., torch.fft.rfftfreq(size, 1 / sr) > 8200].sum())
    return 16000 if total > 0 and 10 * np.log10(max(above, 1e-30) / total) < EMPTY_ABOVE_DB else msr


def model_input(model: nn.Module, stack: np.ndarray, sr: int, band: int) -> np.ndarray:
    """(channels, L) audio at ``sr`` -> what the model is given of it at its own rate: resampled (soxr);
    when its ``band`` (a rate, :func:`band_rate`) ends below the model's, through that rate and cut
    sharply at ``dsp.PASSBAND`` of its band (see there; :func:`denoise.dsp.band_limit`, in double
    precision), as in training."""
    msr = model.sample_rate
    if band == msr:
        return resample(stack, sr, msr)
    x = resample(resample(stack, sr, band), band, msr).astype(np.float64)
    return dsp.band_limit(torch.from_numpy(x), msr, dsp.PASSBAND * band / 2).numpy().astype(np.float32)


def carries_high_band(model: nn.Module, sr: int, band: int) -> bool:
    """Whether part of the input's band is left out of :func:`model_input` and carried (:func:`high_band`)."""
    return getattr(model, "stft_cfg", None) is not None and (sr > band or band < model.sample_rate)


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
