"""A causal convolutional recurrent denoising autoencoder for speech spectrograms ("crn").

The network maps level-normalised log-power features (B, 1, F, N) to mask logits (B, 1, F, N), like every
audio network here, but each output frame depends on the current and past frames only:

- **input normalisation:** the features minus a causal running mean of each frame's mean log power
  (time constant ``norm_frames`` frames). A change of recording level adds the same constant to every
  feature, so it cancels exactly, and no statistic of the future is needed (a file's RMS would be one);
- **encoder:** ``depth`` convolutions that halve the frequency axis (stride 2) with kernels spanning
  ``time_kernel`` frames of the past and present only (padded on the left);
- **latent:** the last encoder map (channels × bands) per frame goes through a GRU, the temporal context
  that the convolutions' few frames lack (noise statistics, speech continuity);
- **decoder:** transposed convolutions back to F bins, each adding the encoder map of its size (skips).

**Full band** (``high_bands`` > 0, for 32 and 48 kHz models): the bins above ``low_bins`` (8 kHz) are
pooled into ``high_bands`` bands (mean power, widths growing geometrically with frequency, as hearing and
the spectra of noise and speech up there do) and placed after the low bins, so the encoder, GRU and
decoder see the whole band at once and decide the high band's gains from features of all of it; each
band's logit is spread back over its bins by linear interpolation between band centres. Speech above
8 kHz is sibilance and breath, smooth in frequency, so 16 gains cover it; the low band keeps one gain per
bin. The features in and the logits out stay one per STFT bin, so streams, export and the wrapper are the
same for every rate.

**Deep filtering** (``df_order`` K > 0, as DeepFilterNet's second stage): besides the gains, the network
gives K complex coefficients per frame for each of the first ``df_bins`` bins, the taps of a filter over
that bin's current and K - 1 previous STFT frames; the wrapper adds the filtered noisy frames to the
masked ones (:meth:`denoise.models.denoisers.SpectralMaskDenoiser.estimate_spectrum`). A real gain can
only scale a bin; a filter over frames can also change its phase and weigh it against the same bin's
previous frames, where the harmonics of voiced speech change slowly and noise does not. The taps come from their own
transposed convolution beside the decoder's last layer (tanh, each part in [-1, 1]), whose weights start
at zero: a model grown from a trained crn by these arguments starts as exactly that model.

``step(x, state)`` runs on a block of frames after the ones ``state`` saw and returns the new state, so a
stream can be processed frame by frame with the same result as the whole signal at once
(``forward(x) == step(x, None)[0]``). The output is (B, 1, F, N) mask logits, or with deep filtering
(B, 1 + 2K, F, N): channel 0 the logits, channels 1 + 2k and 2 + 2k the real and imaginary part of tap k
(applied to the frame k hops back), zero above ``df_bins``. The STFT around it adds its own look-ahead: a
centred 512-point window at 16 kHz reaches 256 samples (16 ms) past its frame's centre.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from denoise import dsp
from denoise.models.registry import register

State = dict[str, Any]

# Inference runs a long signal in blocks of about this many frames times batch items (see
# ``CausalCRN.forward``): 512 frames for one item, 128 for a batch of 4, never under 64.
FRAME_ITEMS_PER_BLOCK = 512
MIN_BLOCK_FRAMES = 64


def inference_block_frames(batch: int) -> int:
    """Frames per block when a batch of ``batch`` items runs in blocks (``CausalCRN.forward``)."""
    return max(MIN_BLOCK_FRAMES, FRAME_ITEMS_PER_BLOCK // max(1, batch))


class CausalConv(nn.Module):
    """(B, Cin, F, N) -> (B, Cout, ceil(F / stride), N): frequency kernel ``kf`` centred (zero padded),
    time kernel ``kt`` over the present and the ``kt - 1`` previous frames, then batch norm and PReLU."""

    def __init__(self, cin: int, cout: int, kf: int, kt: int, stride: int) -> None:
        super().__init__()
        self.kt = kt
        self.conv = nn.Conv2d(cin, cout, (kf, kt), stride=(stride, 1), padding=(kf // 2, 0))
        self.norm = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, past: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``past``: the (B, Cin, F, kt - 1) input frames before ``x`` (None: zeros, the start of a signal).
        Returns the output and the frames to pass as ``past`` with the next block."""
        if past is None:
            past = x.new_zeros(x.shape[:3] + (self.kt - 1,))
        x = torch.cat([past, x], dim=-1)
        return self.act(self.norm(self.conv(x))), x[..., x.shape[-1] - (self.kt - 1):]


class UpConv(nn.Module):
    """(B, Cin, F, N) -> (B, Cout, 2F - 1, N): a frequency-only transposed convolution (no time extent,
    so nothing to carry between blocks), batch norm and PReLU; the last layer is linear (mask logits)."""

    def __init__(self, cin: int, cout: int, last: bool = False) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, (3, 1), stride=(2, 1), padding=(1, 0))
        self.post: nn.Module = nn.Identity() if last else nn.Sequential(nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.conv(x))


def running_mean(x: torch.Tensor, alpha: float, init: Optional[torch.Tensor],
                 block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal exponential mean along the last axis of (B, N): m_t = alpha m_(t-1) + (1 - alpha) x_t, with
    m_(-1) = ``init`` (B,) (None: the first value). Returns all N means and the last, to continue from.

    Computed without a loop over time (so it traces to ONNX for any N, and trains fast): within blocks of
    ``block`` frames by a (block, block) decay matrix from a zero start, then each block's start value
    from the ends of the blocks before it by a (K, K) one, K = N / block. Every power of alpha taken is
    of an exponent >= 0, so nothing overflows however long the signal."""
    b, n = x.shape
    m0 = x[:, 0] if init is None else init
    pad = (-n) % block
    xs = torch.nn.functional.pad(x, (0, pad)).reshape(b, -1, block)  # (B, K, L)
    k = xs.shape[1]
    i = torch.arange(block, device=x.device, dtype=x.dtype)
    inner = torch.tril(alpha ** (i[:, None] - i[None, :]).clamp_min(0)) * (1 - alpha)  # (L, L)
    local = xs @ inner.T  # each block's mean from a zero start
    j = torch.arange(k, device=x.device, dtype=x.dtype)
    across = torch.tril(alpha ** (block * (j[:, None] - j[None, :])).clamp_min(0))  # (K, K)
    # the value at the end of block j: sum over blocks i <= j of alpha^(L (j - i)) local_i[-1], + alpha^(L (j + 1)) m0
    ends = local[:, :, -1] @ across.T + m0[:, None] * alpha ** (block * (j + 1))
    before = torch.cat([m0[:, None], ends[:, :-1]], dim=1)  # (B, K): the mean just before each block
    out = local + before[:, :, None] * alpha ** (i + 1)
    out = out.reshape(b, -1)[:, :n]
    return out, out[:, -1]


def band_edges(low_bins: int, bins: int, bands: int) -> list[int]:
    """Bin edges low_bins = e0 < e1 < ... < e_bands = bins of ``bands`` bands whose widths grow
    geometrically with frequency (each at least one bin)."""
    ratio = (bins / low_bins) ** (1.0 / bands)
    edges = [low_bins]
    for k in range(1, bands + 1):
        edges.append(max(edges[-1] + 1, min(bins - (bands - k), round(low_bins * ratio**k))))
    edges[-1] = bins
    return edges


def band_matrices(low_bins: int, bins: int, bands: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(bands, bins - low_bins) pooling weights (each row the mean over its band's bins) and
    (bins - low_bins, bands) spreading weights (each bin's value linearly interpolated between the two
    nearest band centres, held beyond the first and last centre; rows sum to 1). Made on the CPU (in numpy),
    whatever the default device, so that a network built on the meta device to be counted has them too."""
    edges = band_edges(low_bins, bins, bands)
    high = bins - low_bins
    pool = np.zeros((bands, high), np.float32)
    for k in range(bands):
        pool[k, edges[k] - low_bins : edges[k + 1] - low_bins] = 1.0 / (edges[k + 1] - edges[k])
    centres = np.array([(edges[k] + edges[k + 1] - 1) / 2 for k in range(bands)])
    spread = np.stack([np.interp(np.arange(low_bins, bins), centres, np.eye(bands)[k]) for k in range(bands)], 1)
    cpu = torch.device("cpu")
    return torch.tensor(pool, device=cpu), torch.tensor(spread, dtype=torch.float32, device=cpu)


@register("crn", "causal conv encoder-decoder over the spectrogram with a GRU latent (audio, streamable)",
          defaults={"audio": {"width": 32, "depth": 4, "hidden": 192, "time_kernel": 3}}, domains=("audio",))
class CausalCRN(nn.Module):
    """Causal convolutional recurrent denoising autoencoder; see the module docstring.

    ``bins``: the frequency bins it is built for (n_fft / 2 + 1; 257 for the 512-point STFT). The first
    layer has ``width // 2`` channels, the others ``width``. ``norm_frames``: the input normalisation's time
    constant in frames (125 = 1 s at hop 128, 16 kHz). ``low_bins`` and ``high_bands``: see the module
    docstring (0: every bin is its own row). ``df_order`` and ``df_bins``: deep filtering (module
    docstring; 0: gains only)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 4,
                 hidden: int = 192, time_kernel: int = 3, bins: int = 257, norm_frames: float = 125.0,
                 low_bins: int = 0, high_bands: int = 0, df_order: int = 0, df_bins: int = 0) -> None:
        super().__init__()
        if in_channels != 1 or out_channels != 1:
            raise ValueError("crn is an audio network: one feature channel in, one mask channel out")
        if depth < 1 or time_kernel < 1 or width < 2 or hidden < 1:
            raise ValueError("depth, time_kernel, width (>= 2) and hidden must be positive")
        self.bins, self.low_bins, self.high_bands = bins, low_bins, high_bands
        if high_bands:
            if not 1 <= low_bins < bins or not 2 <= high_bands <= bins - low_bins:
                raise ValueError(f"high_bands={high_bands} bands over bins {low_bins}..{bins} need "
                                 "1 <= low_bins < bins and 2 <= high_bands <= bins - low_bins")
            pool, spread = band_matrices(low_bins, bins, high_bands)
            self.register_buffer("pool", pool, persistent=False)
            self.register_buffer("spread", spread, persistent=False)
            bins = low_bins + high_bands
        sizes = [bins]
        for _ in range(depth):
            sizes.append((sizes[-1] + 1) // 2)
        if any(2 * small - 1 != big for big, small in zip(sizes, sizes[1:])):
            raise ValueError(f"bins={bins} cannot be halved {depth} times exactly (needs 2**{depth} * k + 1)")
        chans = [1, width // 2] + [width] * (depth - 1)
        self.encoder = nn.ModuleList(CausalConv(chans[i], chans[i + 1], 5 if i == 0 else 3, time_kernel, 2)
                                     for i in range(depth))
        latent = width * sizes[-1]
        self.gru = nn.GRU(latent, hidden, batch_first=True)
        self.project = nn.Linear(hidden, latent)
        self.decoder = nn.ModuleList(UpConv(chans[i + 1], chans[i] if i else 1, last=i == 0)
                                     for i in reversed(range(depth)))
        self.alpha = 1.0 - 1.0 / norm_frames
        self.size_multiple = 1
        self.df_order, self.df_bins = df_order, df_bins
        self.df: Optional[nn.ConvTranspose2d] = None
        if df_order or df_bins:
            if df_order < 1 or not 1 <= df_bins <= (low_bins or self.bins):
                raise ValueError(f"df_order={df_order} and df_bins={df_bins}: deep filtering needs df_order >= 1 "
                                 f"and 1 <= df_bins <= {low_bins or self.bins} (the bins with a gain each)")
            self.df = nn.ConvTranspose2d(chans[1], 2 * df_order, (3, 1), stride=(2, 1), padding=(1, 0))
            nn.init.zeros_(self.df.weight)
            nn.init.zeros_(self.df.bias)

    @staticmethod
    def args_for_spectrum(sample_rate: int, n_fft: int) -> dict[str, Any]:
        """The arguments that fit an STFT of ``n_fft`` at ``sample_rate`` (beyond the defaults, which fit
        16 kHz and 512 points): its bins, and above 16 kHz the full-band layout, one gain per bin up to
        8 kHz and 16 bands above (enough for depth 4 to halve 257 + 16 = 273 rows exactly)."""
        bins = n_fft // 2 + 1
        if sample_rate <= 16000:
            return {} if bins == 257 else {"bins": bins}
        return {"bins": bins, "low_bins": dsp.bins_up_to(8000, n_fft, sample_rate), "high_bands": 16}

    def _to_rows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, bins, N) features -> (B, 1, rows, N): the high bins pooled into bands (their mean power:
        the features are 0.1 ln(power), so the pooling is done on exp(10 x) and taken back to the log)."""
        if not self.high_bands:
            return x
        low, high = x[:, :, : self.low_bins], x[:, :, self.low_bins :]
        peak = high.amax(dim=2, keepdim=True).detach()  # subtracted first: nothing overflows
        pooled = torch.einsum("kf,bcfn->bckn", self.pool, torch.exp(10 * (high - peak)))
        return torch.cat([low, 0.1 * torch.log(pooled.clamp_min(1e-30)) + peak], dim=2)

    def _to_bins(self, h: torch.Tensor) -> torch.Tensor:
        """(B, 1, rows, N) logits -> (B, 1, bins, N): each band's logit spread over its bins."""
        if not self.high_bands:
            return h
        low, bands = h[:, :, : self.low_bins], h[:, :, self.low_bins :]
        return torch.cat([low, torch.einsum("fk,bckn->bcfn", self.spread, bands)], dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, F, N) features -> (B, 1, F, N) mask logits, from the start of the signal.

        On the CPU out of training, a long signal goes through :meth:`step` in blocks of frames, the state
        carried from block to block (the same logits, up to float rounding): each layer's output for a
        whole 11 s chunk does not fit the CPU caches, and a batch of 8 chunks ran about twice as fast in
        blocks of 64 frames (benchmarks/README.md, "Causal inference in blocks"). Training (batch norm
        on batch statistics, one graph), tracing for ONNX export (dynamic length) and GPUs (unmeasured;
        blocks would only add kernel launches there) see one call."""
        block = inference_block_frames(x.shape[0])
        if self.training or torch.jit.is_tracing() or x.device.type != "cpu" or x.shape[-1] <= block:
            return self.step(x, None)[0]
        return self.step_in_blocks(x, block)

    def step_in_blocks(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, 1, F, N) features -> (B, 1, F, N) logits from the start of the signal, computed ``frames``
        at a time with the state carried from block to block."""
        outs, state = [], None
        for start in range(0, x.shape[-1], frames):
            y, state = self.step(x[..., start : start + frames], state)
            outs.append(y)
        return torch.cat(outs, dim=-1)

    def _gru(self, seq: torch.Tensor, hidden: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The GRU, with subnormal floats flushed to zero on the CPU: real recordings (digital silence,
        fades) drive values into the subnormal range, where the first call in a process took 2.6 to 4.5 s
        for 4 s of audio instead of 0.1 s. Zero is what those values round to in any case."""
        if seq.device.type != "cpu":
            return self.gru(seq, hidden)
        torch.set_flush_denormal(True)
        try:
            return self.gru(seq, hidden)
        finally:
            torch.set_flush_denormal(False)

    def step(self, x: torch.Tensor, state: Optional[State]) -> tuple[torch.Tensor, State]:
        """(B, 1, F, N) features of the frames after those ``state`` saw (None: the first) -> their
        (B, 1, F, N) logits and the state after them."""
        if x.shape[2] != self.bins:
            raise ValueError(f"crn was built for {self.bins} frequency bins, got {x.shape[2]}")
        state = state or {}
        x = self._to_rows(x)
        mean, level = running_mean(x.mean(dim=(1, 2)), self.alpha, state.get("level"))
        h = x - mean[:, None, None, :]
        skips, pasts = [], []
        for i, layer in enumerate(self.encoder):
            h, past = layer(h, state.get(f"conv{i}"))
            skips.append(h)
            pasts.append(past)
        b, c, f, n = h.shape
        seq, hidden = self._gru(h.permute(0, 3, 1, 2).reshape(b, n, c * f), state.get("gru"))
        h = self.project(seq).reshape(b, n, c, f).permute(0, 2, 3, 1)
        for layer, skip in zip(self.decoder[:-1], reversed(skips[1:])):
            h = layer(h + skip)
        h = h + skips[0]
        out = self._to_bins(self.decoder[-1](h))
        if self.df is not None:
            out = torch.cat([out, self._filter_taps(h)], dim=1)
        new: State = {"level": level, "gru": hidden, **{f"conv{i}": p for i, p in enumerate(pasts)}}
        return out, new

    def _filter_taps(self, h: torch.Tensor) -> torch.Tensor:
        """(B, C, rows / 2, N), the decoder's last input -> (B, 2K, bins, N) deep-filter taps, zero above
        ``df_bins``. Only the input rows that reach the first df_bins output rows are transposed."""
        assert self.df is not None
        taps = torch.tanh(self.df(h[:, :, : self.df_bins // 2 + 1]))[:, :, : self.df_bins]
        return nn.functional.pad(taps, (0, 0, 0, self.bins - self.df_bins))


def widen(net: CausalCRN, args: dict[str, Any], sample_rate: int, n_fft: int) -> tuple[CausalCRN, dict[str, Any]]:
    """A full-band network for an STFT of ``n_fft`` points at ``sample_rate`` that starts from the 16 kHz
    ``net`` (built from ``args``): to fine-tune a trained speech model on full-band audio instead of
    starting over. With the 16 kHz window and hop in time (``STFTConfig.for_rate``) the first 257 bins are
    ``net``'s bins, so every convolution keeps its weights; the GRU's input and the projection back grow by
    the latent rows the high bands add, and their new weights are zero. Returns the network and its args."""
    if net.high_bands:
        raise ValueError("the network is full band already")
    new_args = {**args, **CausalCRN.args_for_spectrum(sample_rate, n_fft)}
    if not new_args.get("high_bands") or new_args["low_bins"] != net.bins:
        raise ValueError(f"an STFT of {n_fft} points at {sample_rate} Hz does not extend {net.bins} bins")
    wide = CausalCRN(**new_args)
    width = net.encoder[-1].conv.out_channels
    old_rows, new_rows = net.gru.input_size // width, wide.gru.input_size // width
    state = net.state_dict()
    for key, dim in (("gru.weight_ih_l0", 1), ("project.weight", 0), ("project.bias", 0)):
        t = state[key].movedim(dim, 0)
        grown = t.new_zeros((width, new_rows) + t.shape[1:])
        grown[:, :old_rows] = t.reshape((width, old_rows) + t.shape[1:])
        state[key] = grown.reshape((width * new_rows,) + t.shape[1:]).movedim(0, dim)
    wide.load_state_dict(state, strict=True)
    return wide, new_args
