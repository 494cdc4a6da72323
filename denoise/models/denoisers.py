"""Domain wrappers: turn a raw network into an image or audio denoiser with a fixed input/output contract.

Both wrappers carry ``config`` (a :class:`~denoise.config.ModelConfig`) and ``meta`` (the checkpoint's
JSON metadata) so that inference code needs nothing but the module, and ``source``: the file that
``checkpoint.load`` read them from (None for a model built in memory), for records of where weights came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Protocol, runtime_checkable

import torch
from torch import nn

from denoise import dsp
from denoise.config import ModelConfig


@runtime_checkable
class Denoiser(Protocol):
    """The contract between a model and the code that runs it (inference, training, export): what a
    module from ``checkpoint.load`` or ``build_model`` provides, and all that the rest of the package uses.

    - ``domain``: "image" or "audio"; ``config``: the ModelConfig it was built from (channels, output mode,
      STFT); ``meta``: the checkpoint's metadata; ``source``: the file it was read from, or None.
    - ``size_multiple``: image sides are padded to a multiple of it inside the model; tiles are aligned to
      it, since a U-Net is only shift-equivariant for shifts that are multiples of its down-sampling.
    - ``sample_rate``: the rate audio models work at (None for images).
    - calling it: images (B, C, H, W) -> (B, C, H, W), the denoised image; audio (B, T) -> (B, T), with an
      optional ``level=`` (B, 1) to normalise by instead of each item's own RMS (streams pass a longer one).
    - ``aux_loss()``: the architecture's own training loss for the last forward pass (a VAE's KL), or None.
    """

    config: ModelConfig
    meta: dict[str, Any]
    source: Optional[Path]

    @property
    def domain(self) -> str: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def sample_rate(self) -> Optional[int]: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def aux_loss(self) -> Optional[torch.Tensor]: ...


def is_causal(model: nn.Module) -> bool:
    """Whether ``model`` (an audio denoiser) is causal, so that it can run frame by frame: its network has
    ``step``. Such a model needs the past only; it has none at the start of a recording."""
    return callable(getattr(getattr(model, "net", None), "step", None))


class _Wrapper(nn.Module):
    def __init__(self, net: nn.Module, config: ModelConfig, meta: Optional[dict[str, Any]] = None) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.meta = meta or {}
        self.source: Optional[Path] = None

    @property
    def size_multiple(self) -> int:
        return int(getattr(self.net, "size_multiple", 1))

    @property
    def sample_rate(self) -> Optional[int]:
        return self.config.sample_rate

    def aux_loss(self) -> Optional[torch.Tensor]:
        """The network's extra training loss for its last forward pass (the VAE's beta * KL), or None."""
        fn = getattr(self.net, "aux_loss", None)
        return fn() if fn is not None else None


class ImageDenoiser(_Wrapper):
    """(B, C, H, W) float, nominally in [0, 1] (values outside are fine) -> (B, C, H, W).

    With ``output == "residual"`` the network estimates the noise and it is subtracted (DnCNN's residual
    learning: the noise is simpler to model than the image, which trains faster and generalises over σ).
    """

    @property
    def domain(self) -> str:
        return "image"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return x - y if self.config.output == "residual" else y


class SpectralMaskDenoiser(_Wrapper):
    """(B, T) waveform at ``config.sample_rate`` -> (B, T) waveform.

    Each item is divided by its RMS before the features are taken, so the network sees the same input
    whatever the recording level; the predicted mask is then applied to the *unscaled* noisy spectrogram,
    which makes the output exactly proportional to the input level. The noisy phase is kept and the ISTFT
    is the exact inverse of the STFT, so nothing shifts in time.
    """

    def __init__(self, net: nn.Module, config: ModelConfig, meta: Optional[dict[str, Any]] = None) -> None:
        super().__init__(net, config, meta)
        assert config.stft is not None and config.sample_rate is not None
        self.stft_cfg = config.stft
        cut, ramp = config.low_cut_hz, None  # (F, 1) gains of the low cut; None: no cut, nothing to apply
        if cut > 0:
            hz = torch.arange(config.stft.n_fft // 2 + 1) * (config.sample_rate / config.stft.n_fft)
            ramp = ((hz - cut / 2) / (cut / 2)).clamp(0.0, 1.0).view(-1, 1)
        self.register_buffer("low_cut", ramp, persistent=False)

    @property
    def domain(self) -> str:
        return "audio"

    def features(self, wave: Optional[torch.Tensor], spec: torch.Tensor, level: Optional[torch.Tensor] = None
                 ) -> torch.Tensor:
        """Level-normalised log power: (B, F, N) complex -> (B, 1, F, N) real, roughly in [-3, 1]. The level
        is the RMS of ``wave``, or ``level`` (B, 1) when given: a stream cut into short windows passes the
        level of a longer stretch, so that each window is seen at the scale a file run would see it."""
        if level is None:
            if wave is None:
                raise ValueError("features need the waveform or its level")
            level = dsp.rms(wave)
        scale = level.clamp_min(1e-5).unsqueeze(-1)  # (B, 1, 1)
        power = (spec.abs() / scale).pow(2)
        return (0.1 * torch.log(power + dsp.EPS)).unsqueeze(1)

    def estimate_spectrum(
        self,
        wave: torch.Tensor,
        spec: torch.Tensor,
        feature_transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        level: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """(B, T) waveform and a (B, F, N) complex spectrogram -> the (B, F, N) estimate (masked; with deep
        filtering, the first bins filtered over frames too). ``spec`` is
        normally ``stft(wave)``; self-supervised training passes one with blind-spot bins replaced, so the
        estimate at those bins cannot depend on their own noisy values. ``feature_transform`` corrupts
        only the network's input (time-frequency masking in supervised training); ``level``: see
        :meth:`features`."""
        feats = self.features(wave, spec, level)
        if feature_transform is not None:
            feats = feature_transform(feats)
        return self._masked(spec, self.net(feats))[0]

    @property
    def df_order(self) -> int:
        """Taps of the network's deep filter (``crn``'s ``df_order``; 0: gains only)."""
        return int(getattr(self.net, "df_order", 0))

    @property
    def df_bins(self) -> int:
        """Bins the deep filter covers, from 0 Hz (``crn``'s ``df_bins``; 0 without deep filtering)."""
        return int(getattr(self.net, "df_bins", 0))

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, 1 or more, F, N) network output -> (B, 1, F, N) gains in [0, 1]: the sigmoid of channel 0 (the
        rest are deep-filter taps), with the low cut (see ModelConfig.low_cut_hz)."""
        gains = torch.sigmoid(logits[:, :1].float())
        return gains if self.low_cut is None else gains * self.low_cut

    def _masked(self, spec: torch.Tensor, out: torch.Tensor, past: Optional[torch.Tensor] = None
                ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(B, F, N) noisy spectrum and the network's output -> the (B, F, N) estimate, and with deep filtering
        the last K - 1 frames of the filtered bins (B, D, K - 1), to pass as ``past`` with the frames that
        follow (None: the start of the signal, zeros before it)."""
        if self.config.output != "mask":
            raise ValueError(f"audio output mode {self.config.output!r} is not supported")
        est = spec * self.mask(out).squeeze(1)
        order = self.df_order
        if not order:
            return est, None
        parts = self.filter_taps(out)
        bins, n = parts.shape[2], spec.shape[-1]
        low = spec[:, :bins]
        if past is None:
            past = low.new_zeros(low.shape[:2] + (order - 1,))
        frames = torch.cat([past, low], dim=-1)  # (B, D, K - 1 + N)
        taps = torch.complex(parts[:, 0::2], parts[:, 1::2])  # (B, K, D, N)
        est[:, :bins] += sum(taps[:, k] * frames[..., order - 1 - k : order - 1 - k + n] for k in range(order))
        return est, frames[..., frames.shape[-1] - (order - 1):]

    def filter_taps(self, out: torch.Tensor) -> torch.Tensor:
        """The network's output (B, 1 + 2K, F, N) -> its deep-filter taps (B, 2K, D, N) over the D = df_bins
        bins they are for (real and imaginary part of each tap in turn), with the low cut applied."""
        taps = out[:, 1:, : self.df_bins].float()
        return taps if self.low_cut is None else taps * self.low_cut[: taps.shape[2]]

    def estimate_frames(self, spec: torch.Tensor, level: torch.Tensor, state: Optional[dict[str, Any]]
                        ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Causal networks only (``net.step``): (B, F, K) complex frames that follow those ``state`` saw
        (None: the first), normalised by ``level`` (B, 1) -> their (B, F, K) masked estimate and the state
        after them. Frame by frame or all at once, the estimate is the same (``denoise.audio.realtime``)."""
        state = state or {}
        out, net_state = self.net.step(self.features(None, spec, level), state.get("net"))
        est, past = self._masked(spec, out, state.get("df_past"))
        return est, {"net": net_state, "df_past": past}

    def forward(
        self,
        wave: torch.Tensor,
        feature_transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        spectrum: Optional[torch.Tensor] = None,
        level: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """(B, T) -> (B, T) denoised waveform. Given ``spectrum`` (B, F, N) instead of ``stft(wave)``
        (self-supervised training's blind-spot input), returns the (B, F, N) spectrum estimate: it goes
        through ``forward`` so that DistributedDataParallel sees the call. ``level``: see :meth:`features`."""
        if spectrum is not None:
            return self.estimate_spectrum(wave, spectrum, feature_transform, level)
        spec = dsp.stft(wave, self.stft_cfg)
        est = self.estimate_spectrum(wave, spec, feature_transform, level)
        return dsp.istft(est, self.stft_cfg, wave.shape[-1])
