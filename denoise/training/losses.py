"""Training losses. Images: L1, MSE or per-patch PSNR of the error; audio: a spectral loss on compressed
magnitudes; without clean data: the Noise2Void blind-spot loss. Each is a scalar tensor for backward()."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from denoise import dsp
from denoise.config import STFTConfig
from denoise.training.noise import blind_spot


def image_loss(err: torch.Tensor, name: str | None) -> torch.Tensor:
    """Supervised image loss of the error ``estimate - clean`` (B, C, H, W), a scalar. ``psnr``: minus each
    patch's PSNR, 10 log10(MSE + 1e-5) (capped at 50 dB, so that a near-perfect patch cannot dominate),
    averaged over the batch. Its gradient weights each patch by 1 / its MSE, as a benchmark's mean PSNR
    over noise levels does, where plain MSE lets the noisiest patches dominate."""
    if name == "mse":
        return err.square().mean()
    if name == "psnr":
        return 10 * torch.log10(err.square().mean(dim=(1, 2, 3)) + 1e-5).mean()
    return err.abs().mean()


def spectral_loss(est: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """L1 between power-law compressed magnitudes (|S|^0.3, which weights quiet speech like the ear does)
    plus a small waveform L1; both on signals divided by the noisy RMS, so loud and quiet examples count
    alike."""
    scale = dsp.rms(noisy)
    e, c = est / scale, clean / scale
    stft_cfg = model.stft_cfg
    se, sc = dsp.stft(e, stft_cfg).abs(), dsp.stft(c, stft_cfg).abs()
    spec = (se.clamp_min(1e-8).pow(0.3) - sc.clamp_min(1e-8).pow(0.3)).abs().mean()
    return spec + 0.1 * (e - c).abs().mean()


def _compressed_l1(e: torch.Tensor, c: torch.Tensor, cfg: STFTConfig, low_share: float = 0.0,
                   low_bins: int = 0) -> torch.Tensor:
    """The compressed-magnitude L1 over all bins; with ``low_share`` > 0 (full-band signals), the first
    ``low_bins`` bins (up to 8 kHz) carry that share of the weight and the bins above the rest."""
    se, sc = dsp.stft(e, cfg).abs(), dsp.stft(c, cfg).abs()
    diff = (se.clamp_min(1e-8).pow(0.3) - sc.clamp_min(1e-8).pow(0.3)).abs().mean(dim=(0, 2))  # (F,)
    if not low_share:
        return diff.mean()
    return low_share * diff[:low_bins].mean() + (1 - low_share) * diff[low_bins:].mean()


def si_sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per item of (B, T) signals: (B,)."""
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((est - target).pow(2).sum(-1) + eps))


MULTIRES_FFTS = (256, 512, 1024)  # at 16 kHz; scaled with the rate (the same durations)
FULL_BAND_RATE = 48000
LOW_BAND_SHARE = 0.6  # of a 48 kHz loss, on the band up to 8 kHz (a third of the bins, most of the speech)


def multires_loss(est: torch.Tensor, clean: torch.Tensor, noisy: torch.Tensor, sample_rate: int = 16000
                  ) -> torch.Tensor:
    """The compressed-magnitude L1 of :func:`spectral_loss` averaged over three STFT sizes (fine time
    resolution for onsets and transients, fine frequency resolution for harmonics), plus the waveform L1
    and minus SI-SDR / 100 (the phase-aware measure the benchmarks report; 1 dB weighs like 0.01 of L1).
    At 48 kHz the STFTs span the same times as at 16 kHz, and the band up to 8 kHz keeps LOW_BAND_SHARE of
    the spectral weight: averaged evenly over 24 kHz, the quiet band above 8 kHz would outweigh the speech."""
    scale = dsp.rms(noisy)
    e, c = est / scale, clean / scale
    full = sample_rate == FULL_BAND_RATE
    ffts = [n * sample_rate // 16000 for n in MULTIRES_FFTS]
    spec = sum(_compressed_l1(e, c, STFTConfig(n, n // 4, n), LOW_BAND_SHARE if full else 0.0,
                              dsp.bins_up_to(8000, n, sample_rate)) for n in ffts) / len(ffts)
    return spec + 0.1 * (e - c).abs().mean() - 0.01 * si_sdr(est, clean).mean()


def blind_spot_loss(model: nn.Module, noisy: torch.Tensor, fraction: float, gen: torch.Generator,
                     domain: str, stft_cfg: Any = None) -> torch.Tensor:
    """Noise2Void loss for a batch of noisy data only. Images (B, C, H, W): MSE at the masked pixels
    (for zero-mean noise its minimiser is the clean image). Audio (B, T): compressed-magnitude L1 at the
    masked time-frequency bins of the level-normalised spectrogram."""
    if domain == "image":
        masked, mask = blind_spot(noisy, fraction, gen)
        est = model(masked).float()
        m = mask.expand_as(noisy)
        return (est - noisy).pow(2)[m].mean()
    scale = dsp.rms(noisy).unsqueeze(-1)  # (B, 1, 1)
    spec = dsp.stft(noisy, stft_cfg)
    masked, mask = blind_spot(spec.unsqueeze(1), fraction, gen)
    est = model(noisy, spectrum=masked.squeeze(1))
    err = ((est.abs() / scale).clamp_min(1e-8).pow(0.3) - (spec.abs() / scale).clamp_min(1e-8).pow(0.3)).abs()
    return err[mask.squeeze(1)].mean()
