"""Spectrogram and signal helpers on torch tensors. Waveforms are (B, T) float, spectrograms (B, F, N)."""

from __future__ import annotations

import numpy as np
import torch

from denoise.config import STFTConfig

EPS = 1e-8
# The share of a lower-rate recording's band that every resampler passes untouched (soxr's transition band for
# 16 kHz audio is 7.5-8 kHz). A full-band speech model is given such audio cut sharply there
# (denoise.audio.highband) and trained so (denoise.training.noise.match_band): the band edge is then always
# the same, where a resampler's sloped one made the model let steady noise back in.
PASSBAND = 0.9375


def _window(cfg: STFTConfig, device: torch.device) -> torch.Tensor:
    return torch.hann_window(cfg.win_length, periodic=True, device=device)


def frame_window(cfg: STFTConfig) -> torch.Tensor:
    """(n_fft,) the analysis window each frame of :func:`stft` is multiplied by: the Hann window centred in
    n_fft samples, as torch.stft pads a shorter one (for code that frames a signal itself, as streams do)."""
    pad = (cfg.n_fft - cfg.win_length) // 2
    return torch.nn.functional.pad(_window(cfg, torch.device("cpu")), (pad, cfg.n_fft - cfg.win_length - pad))


def stft(wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """(B, T) real -> (B, n_fft/2+1, 1 + T // hop) complex. Centred frames (reflect padding) so frame k
    is centred on sample k*hop and :func:`istft` with ``length=T`` inverts it exactly."""
    return torch.stft(
        wave.float(),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, wave.device),
        center=True,
        pad_mode="reflect" if wave.shape[-1] > cfg.n_fft // 2 else "constant",
        return_complex=True,
    )


def istft(spec: torch.Tensor, cfg: STFTConfig, length: int) -> torch.Tensor:
    """(B, F, N) complex -> (B, length) real; exact overlap-add inverse of :func:`stft`."""
    return torch.istft(
        spec,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, spec.device),
        center=True,
        length=length,
    )


def bins_up_to(hz: float, n_fft: int, sample_rate: int) -> int:
    """How many bins of an ``n_fft``-point STFT at ``sample_rate`` lie at or below ``hz`` (from 0 Hz): 257
    for 8 kHz at 16 kHz and 512 points, and at 48 kHz and 1536 points alike."""
    return int(hz * n_fft / sample_rate) + 1


def band_limit(x: torch.Tensor, sample_rate: int, hz: float | torch.Tensor) -> torch.Tensor:
    """(..., T) signals with every FFT bin above ``hz`` set to zero (``hz`` a number, or a tensor that
    broadcasts against (..., 1): one limit per row). No transition band (see PASSBAND)."""
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate, dtype=x.dtype, device=x.device)
    return torch.fft.irfft(spec * (freqs <= hz), n=x.shape[-1], dim=-1)


def rms(wave: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """(B, T) -> (B, 1) root mean square, floored so digital silence does not divide by zero."""
    return wave.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(floor)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resamples along the last axis with soxr (through librosa). (..., T) -> (..., T * target/orig)."""
    if orig_sr == target_sr:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)


def fit_length(y: np.ndarray, length: int) -> np.ndarray:
    """(channels, n) cut or zero-padded to ``length`` samples (resampling rounds lengths)."""
    return np.pad(y, ((0, 0), (0, length - y.shape[1]))) if y.shape[1] < length else y[:, :length]
