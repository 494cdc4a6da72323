"""Validation during training: the fixed pairs' score (PSNR or SI-SDR), the noisy inputs' own score beside
it, and the blind-spot loss of runs without clean data."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from denoise import metrics
from denoise.device import autocast
from denoise.training import losses


def self_supervised_val(val: list[tuple[torch.Tensor, torch.Tensor]], seed: int = 4321
                         ) -> list[tuple[torch.Tensor, int]]:
    """Fixed (noisy input, mask seed) pairs, so the validation loss compares the same blind spots."""
    return [(noisy, seed + i) for i, (noisy, _) in enumerate(val)]


@torch.no_grad()
def evaluate_blind_spot(model: nn.Module, val: list[tuple[torch.Tensor, int]], fraction: float,
                        device: torch.device) -> float:
    """Mean blind-spot loss on fixed noisy validation data (lower is better): with no clean data, this is
    the only score there is, and it tracks the true error up to the constant noise variance."""
    model.eval()
    values = []
    for noisy, seed in val:
        g = torch.Generator().manual_seed(seed)
        with autocast(device):
            values.append(float(losses.blind_spot_loss(model, noisy.to(device), fraction, g, model.domain,
                                                       getattr(model, "stft_cfg", None))))
    model.train()
    return float(np.mean(values))


def score_pair(domain: str, clean: torch.Tensor, est: torch.Tensor) -> float:
    """The validation metric of one pair: PSNR (images, the estimate clipped to [0, 1]) or SI-SDR (audio)."""
    if domain == "image":
        return metrics.psnr(clean.numpy(), est.clamp(0, 1).numpy())
    return metrics.si_sdr(clean[0].numpy(), est[0].numpy())


@torch.no_grad()
def evaluate(model: nn.Module, val: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> float:
    """Mean PSNR (images, output clipped to [0, 1]) or SI-SDR (audio) over the validation pairs."""
    model.eval()
    scores = []
    for noisy, clean in val:
        with autocast(device):
            est = model(noisy.to(device)).float().cpu()
        scores.append(score_pair(model.domain, clean, est))
    model.train()
    return float(np.mean(scores))


def noisy_score(domain: str, val: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """The validation metric of the noisy inputs themselves: the baseline a model's score is read against."""
    return float(np.mean([score_pair(domain, clean, noisy) for noisy, clean in val]))
