"""Inference in layers, each adding one thing and calling the one below:

``denoise_tensor`` (a batch on the device; ``denoise_tensor_x8`` averages it over the eight flips and
rotations) -> ``denoise_image_array`` / ``denoise_audio_array`` (numpy, tiling and chunking, channel and
rate adaptation) -> ``denoise_decoded`` (a decoded image file, the model chosen for it) /
``denoise_audio_file`` (streamed from file to file) -> ``denoise_paths`` (many files: background decoding
and writing, atomic outputs in the same format, one result per file, failures isolated).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import numpy as np
import torch
from torch import nn

from denoise import io
from denoise.device import autocast, is_out_of_memory

log = logging.getLogger(__name__)

DEFAULT_TILE = 512  # CPU: one 512² tile took about half the time of nine 256² ones (benchmarks/inference_speed.py)
DEFAULT_OVERLAP = 64
DEFAULT_CHUNK_SECONDS = 10.0
CONTEXT_SECONDS = 0.5  # audio each side of a chunk that is computed and thrown away (edge effects)
FADE_SECONDS = 0.05  # half-length of the linear cross-fade between neighbouring chunks
# Shorter audio is returned unchanged: below about 0.1 s the shipped speech model muted even clean speech by
# 30 to 40 dB (it sees too few STFT frames to tell speech from noise); from 0.2 s it kept it.
MIN_AUDIO_SECONDS = 0.2


MIN_TILE = 64  # smallest tile an out-of-memory retry goes down to


def _torch_out_of_memory(exc: BaseException) -> bool:
    """Torch running out of memory on any device: CUDA's ``OutOfMemoryError`` and the RuntimeErrors of the
    CPU and MPS allocators, which a smaller batch or tile can avoid. numpy's ``MemoryError`` is not one of
    them: it comes from whole-image or whole-file arrays, which smaller tiles would not shrink."""
    return isinstance(exc, RuntimeError) and is_out_of_memory(exc)


def _out_of_memory_error(model: nn.Module, what: str) -> io.InputError:
    """The one-line error once retrying is over: which memory ran out, on ``what``, and on a GPU the way out."""
    device = next(model.parameters()).device.type
    if device == "cpu":
        return io.InputError(f"out of memory {what}")
    return io.InputError(f"out of {device} memory {what}; try device='cpu'")


def default_batch_size(model: nn.Module) -> int:
    """Image tiles or audio chunks per forward pass when the caller gives none: 1 on the CPU, where larger
    batches were no faster (the convolutions already use every thread) and only raised peak memory
    (``benchmarks/inference_speed.py``), and 8 tiles / 4 chunks on a GPU, which batches fill."""
    if next(model.parameters()).device.type == "cpu":
        return 1
    return 8 if model.domain == "image" else 4


def _release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------- tensor core
def denoise_tensor(model: nn.Module, x: torch.Tensor, level: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Runs ``model`` on a batch already shaped for it: images (B, C, H, W), audio (B, T) at the model's
    rate. The batch is moved to the model's device, run under inference mode (autocast on CUDA), and the
    result comes back as float32 on the CPU. ``level`` (B, 1), audio only: the level each item is to be
    normalised by instead of its own RMS (see ``SpectralMaskDenoiser.features``).

    When the device runs out of memory, the batch is split in halves and each half retried, down to one
    item; only a single item that does not fit raises (the callers then shrink tiles or give up)."""
    device = next(model.parameters()).device
    try:
        return _run_batch(model, x, device, level)
    except RuntimeError as exc:
        if not _torch_out_of_memory(exc):
            raise
        _release(device)
        if x.shape[0] <= 1:
            raise
        half = x.shape[0] // 2
        log.info("out of %s memory with a batch of %d: retrying as %d + %d", device.type, x.shape[0], half,
                 x.shape[0] - half)
        parts = [(x[:half], None if level is None else level[:half]), (x[half:], None if level is None else level[half:])]
        return torch.cat([denoise_tensor(model, xs, ls) for xs, ls in parts])


def _run_batch(model: nn.Module, x: torch.Tensor, device: torch.device,
               level: Optional[torch.Tensor] = None) -> torch.Tensor:
    with torch.inference_mode(), autocast(device):
        xin = x.to(device, non_blocking=True).float()
        y = (model(xin) if level is None else model(xin, level=level.to(device).float())).float()
    if not torch.isfinite(y.sum()):  # one pass, no mask: the sum of finite outputs in [0, 1] is finite
        raise io.InputError("the model produced NaN or Inf values; nothing was written")
    return y.cpu()


# The eight flips and rotations of the square: k quarter turns, then a left-right flip or not.
DIHEDRAL = tuple((k, flip) for k in range(4) for flip in (False, True))


def denoise_tensor_x8(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W) float32 on the CPU: the mean of :func:`denoise_tensor` over the eight
    flips and rotations of the batch, each undone on the output (the "x8 self-ensemble" of the DnCNN and
    KAIR test scripts).

    A trained conv net is not exactly equivariant to these transforms, so its errors on the eight views
    are partly independent and their mean is closer to the clean image; the cost is eight forward passes.
    They run one after another, so peak memory stays that of a single pass."""
    acc = torch.zeros(x.shape, dtype=torch.float32)
    for k, flip in DIHEDRAL:
        view = torch.rot90(x, k, dims=(-2, -1))
        y = denoise_tensor(model, view.flip(-1) if flip else view)
        acc += torch.rot90(y.flip(-1) if flip else y, -k, dims=(-2, -1))
    return acc / len(DIHEDRAL)


def _blend(wet: np.ndarray, dry: np.ndarray, strength: float) -> np.ndarray:
    """The one place ``strength`` acts: ``strength`` of the denoised signal, the rest the input's own values
    (a dry/wet mix); the input itself at 0."""
    return wet if strength == 1.0 else strength * wet + (1.0 - strength) * dry


def _check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")


# ------------------------------------------------------------------------------------------ image array
def denoise_image_array(
    model: nn.Module,
    image: np.ndarray,
    strength: float = 1.0,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: Optional[int] = None,
    ensemble: bool = False,
    progress: Optional[Callable[[float], None]] = None,
) -> np.ndarray:
    """(H, W) or (H, W, C) float -> float32 of the same shape.

    Images larger than ``tile`` are cut into overlapping tiles, run ``batch_size`` at a time (default:
    :func:`default_batch_size`) and blended, so memory is bounded whatever the size. A gray model runs
    each colour channel separately; a colour model sees a gray image repeated three times and its output
    is averaged back. ``ensemble`` runs every tile through :func:`denoise_tensor_x8` (eight times the
    work, a slightly cleaner result).

    Out of device memory even for one tile, the image is redone with tiles half the size (down to
    ``MIN_TILE``); below that an :class:`~denoise.io.InputError` says so in one line.

    ``progress`` gets the megapixels finished, tile batch by tile batch (a 12-megapixel photo is about a
    minute on a CPU); the amounts add up to H·W / 1e6 once, also when a retry redoes the image.
    """
    reported = 0.0

    def report(megapixels_done: float) -> None:  # this attempt's total so far -> the part not yet reported
        nonlocal reported
        if progress is not None and megapixels_done > reported:
            progress(megapixels_done - reported)
            reported = megapixels_done

    while True:
        try:
            return _denoise_image_array(model, image, strength, tile, overlap, batch_size, ensemble, report)
        except RuntimeError as exc:
            if not _torch_out_of_memory(exc):
                raise
            _release(next(model.parameters()).device)
            if tile // 2 < MIN_TILE:
                raise _out_of_memory_error(model, f"even with {tile}-pixel tiles one at a time") from None
            tile //= 2
            overlap = min(overlap, tile // 4)
            log.warning("out of %s memory: retrying this image with %d-pixel tiles",
                        next(model.parameters()).device.type, tile)


def _denoise_image_array(model: nn.Module, image: np.ndarray, strength: float, tile: int, overlap: int,
                         batch_size: Optional[int], ensemble: bool,
                         report: Callable[[float], None]) -> np.ndarray:
    from denoise.tiling import TiledImage, as_hwc

    _check_strength(strength)
    batch_size = batch_size or default_batch_size(model)
    run = denoise_tensor_x8 if ensemble else denoise_tensor
    arr, squeeze = as_hwc(image)
    tiled = TiledImage(model, arr, tile, overlap)
    for i in range(0, tiled.tiles, batch_size):  # batch_size tiles a pass (a gray model: their channels)
        tiled.add(run(model, tiled.items(i, min(i + batch_size, tiled.tiles))))
        report(tiled.done / tiled.tiles * tiled.h * tiled.w / 1e6)
    out = _blend(tiled.result(), arr, strength)
    return out[:, :, 0] if squeeze else out


# ------------------------------------------------------------------------------------------ audio stream
def _boundaries(n: int, hop: int) -> list[int]:
    """Chunk boundaries 0 = b0 < b1 < ... < bK = n, chunks ``hop`` long, the last between hop/2 and 1.5 hop."""
    b = list(range(0, n, hop))
    if len(b) > 1 and n - b[-1] < hop // 2:
        b.pop()
    return b + [n]


def _chunk_weight(start: int, stop: int, lo: int, hi: int, fade: int, first: bool, last: bool) -> np.ndarray:
    """Weights for samples [start, stop) of the chunk whose own span is [lo, hi): linear ramps of length
    2*fade centred on each inner boundary; the ramps of neighbours add up to exactly 1."""
    t = np.arange(start, stop, dtype=np.float64) + 0.5
    w = np.ones(stop - start, np.float64)
    if not first:
        w = np.minimum(w, np.clip((t - (lo - fade)) / (2 * fade), 0.0, 1.0))
    if not last:
        w = np.minimum(w, np.clip(((hi + fade) - t) / (2 * fade), 0.0, 1.0))
    return w.astype(np.float32)


def _run_windows(model: nn.Module, windows: list[np.ndarray], sr: int, strength: float,
                 levels: Optional[list[np.ndarray]] = None) -> list[np.ndarray]:
    """Denoises (channels, L) windows at rate ``sr``: resampled to the model's rate, every channel of
    every window as one batch item (windows of equal length share a batch), resampled back, and mixed
    with the window's own samples by ``strength`` (linear, so the cross-fade of the chunks keeps it).
    ``levels``: per window, the (channels,) level to normalise by instead of the window's own RMS."""
    from denoise.dsp import resample

    msr = model.sample_rate
    outs: list[Optional[np.ndarray]] = [None] * len(windows)
    by_len: dict[int, list[int]] = {}
    for i, win in enumerate(windows):
        by_len.setdefault(win.shape[1], []).append(i)
    for length, idx in by_len.items():
        stack = np.concatenate([windows[i] for i in idx], axis=0)  # (sum channels, L)
        x = resample(stack, sr, msr)
        level = None if levels is None else torch.from_numpy(
            np.concatenate([levels[i] for i in idx]).astype(np.float32)[:, None])
        y_model = denoise_tensor(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), level).numpy()
        y = _fit(resample(y_model, msr, sr), length)
        if sr > msr and getattr(model, "stft_cfg", None) is not None:
            y = y + _high_band(model, stack, x, y_model, sr)
        pos = 0
        for i in idx:
            ch = windows[i].shape[0]
            outs[i] = _blend(y[pos : pos + ch], windows[i], strength)
            pos += ch
    return outs  # type: ignore[return-value]


def _fit(y: np.ndarray, length: int) -> np.ndarray:
    """(channels, n) cut or zero-padded to ``length`` samples (resampling rounds lengths)."""
    return np.pad(y, ((0, 0), (0, length - y.shape[1]))) if y.shape[1] < length else y[:, :length]


HIGH_BAND_GUIDE_HZ = 4000.0  # the model's gains from here to its Nyquist frequency guide the band above it


def _high_band(model: nn.Module, stack: np.ndarray, x: np.ndarray, y_model: np.ndarray, sr: int) -> np.ndarray:
    """The part of (channels, L) audio at ``sr`` above the model's band, scaled frame by frame by the gain
    the model gave the top octave of its band (its denoised over its noisy energy, 4–8 kHz for a 16 kHz
    model): sibilants and breath, which reach up there, are kept with the consonants that carry them, and
    noise-only frames are attenuated as the model attenuated them below. ``x`` is ``stack`` at the
    model's rate, ``y_model`` the model's output for it. The gain is a ratio, so the level
    independence of the model holds, and it looks no further ahead than the model does."""
    from denoise import dsp
    from denoise.dsp import resample

    msr, cfg = model.sample_rate, model.stft_cfg
    high = stack - _fit(resample(x, msr, sr), stack.shape[1])  # what the model's rate cannot hold
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


@dataclass(frozen=True)
class Chunking:
    """How audio is cut: chunks of ``chunk`` seconds, ``context`` seconds more on each side computed and
    thrown away, ``fade`` seconds of cross-fade each side of a boundary. ``merge_tail``: a last chunk
    shorter than half a chunk joins the one before (files; it needs half a chunk of look-ahead).
    ``level``: short windows normalised by their own RMS are seen at another scale than in a file run's
    10 s chunks; with ``level`` > 0 the RMS of that many seconds up to the window's end is used instead
    (streams only)."""

    chunk: float = DEFAULT_CHUNK_SECONDS
    context: float = CONTEXT_SECONDS
    fade: float = FADE_SECONDS
    merge_tail: bool = True
    level: float = 0.0  # > 0: normalise by the RMS of the last this many seconds, not the window's own

    def samples(self, rate: int) -> tuple[int, int, int]:
        """(chunk, context, fade) in samples at ``rate``, as ``stream_audio`` rounds them."""
        fade = max(int(self.fade * rate), 1)
        return max(int(self.chunk * rate), 4 * fade + 8), max(int(self.context * rate), 1), fade


def stream_audio(
    model: nn.Module,
    read: Callable[[int, int], np.ndarray],
    write: Callable[[np.ndarray], None],
    n_frames: int,
    sample_rate: int,
    strength: float = 1.0,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    batch_size: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
    name: str = "audio",
) -> bool:
    """Denoises ``n_frames`` of audio in overlapping chunks with bounded memory. Returns True if NaN or
    Inf samples were found (they are treated as silence, so one bad sample cannot spread through the STFT
    into the whole chunk). Audio shorter than ``MIN_AUDIO_SECONDS`` is passed through unchanged, with a
    warning that names it (``name``): a model that sees less than a few STFT frames mutes it.

    ``read(start, stop)`` returns (channels, stop - start) float32; ``write(block)`` receives the output
    in order, (channels, n) blocks adding up to exactly ``n_frames``. Each chunk is computed with
    ``CONTEXT_SECONDS`` of extra audio on both sides (discarded, so resampling and STFT edge effects never
    reach the output) and neighbours are cross-faded over ``2 * FADE_SECONDS``. At most ``batch_size``
    chunks (default: :func:`default_batch_size`) are in memory at once.
    """
    _check_strength(strength)
    if n_frames < MIN_AUDIO_SECONDS * sample_rate:
        return _pass_through(read, write, n_frames, sample_rate, name, progress)
    batch_size = batch_size or default_batch_size(model)
    hop, ctx, fade = Chunking(chunk=chunk_seconds).samples(sample_rate)
    bounds = _boundaries(n_frames, hop)
    joiner = _CrossFade(bounds, fade, write)
    nonfinite = False
    for g in range(0, len(bounds) - 1, batch_size):
        ks = list(range(g, min(g + batch_size, len(bounds) - 1)))
        spans = [(max(0, bounds[k] - ctx), min(n_frames, bounds[k + 1] + ctx)) for k in ks]
        windows = [read(a, b) for a, b in spans]
        for w in windows:
            nonfinite |= _silence_nonfinite(w)
        try:
            results = _run_windows(model, windows, sample_rate, strength)
        except RuntimeError as exc:
            if not _torch_out_of_memory(exc):
                raise
            _release(next(model.parameters()).device)
            raise _out_of_memory_error(model, f"on a single {chunk_seconds:g} s chunk") from None
        for k, (a, _), y in zip(ks, spans, results):
            joiner.add(k, a, y)
            if progress is not None:
                progress(bounds[k + 1] - bounds[k])
    return nonfinite


class _CrossFade:
    """Joins denoised chunks into one stream: chunk k covers [bounds[k], bounds[k+1]) and is cross-faded
    with its neighbours over ``2 * fade`` samples around each inner boundary; ``write`` receives the joined
    output in order, holding back only the fade region that awaits the next chunk. ``last`` is the index
    of the last chunk (default: from ``bounds``; a stream of unknown length sets it when it ends)."""

    def __init__(self, bounds: list[int], fade: int, write: Callable[[np.ndarray], None],
                 last: Optional[int] = None) -> None:
        self.bounds, self.fade, self.write = bounds, fade, write
        self.last = len(bounds) - 2 if last is None else last
        self.pending: Optional[np.ndarray] = None  # weighted output over [b_k - fade, b_k + fade)

    def add(self, k: int, start: int, y: np.ndarray) -> None:
        """Chunk ``k``'s output ``y``, computed over a window that starts at sample ``start``."""
        lo, hi, fade = self.bounds[k], self.bounds[k + 1], self.fade
        keep_a = lo if k == 0 else lo - fade
        keep_b = hi if k == self.last else hi + fade
        seg = y[:, keep_a - start : keep_b - start] * _chunk_weight(keep_a, keep_b, lo, hi, fade, k == 0, k == self.last)
        if self.pending is not None:
            seg[:, : self.pending.shape[1]] += self.pending
        split = seg.shape[1] if k == self.last else seg.shape[1] - 2 * fade
        self.write(seg[:, :split])
        self.pending = None if k == self.last else seg[:, split:]


def warn_nonfinite(name: object) -> None:
    """The one warning for audio whose NaN or Inf samples were silenced (see :func:`_silence_nonfinite`)."""
    log.warning("%s: NaN or Inf samples were treated as silence", name)


def _silence_nonfinite(block: np.ndarray) -> bool:
    """Sets NaN and Inf samples to 0 in place (one bad sample must not spread through the STFT into the
    whole chunk); returns whether there were any."""
    bad = ~np.isfinite(block)
    block[bad] = 0.0
    return bool(bad.any())


def _pass_through(read: Callable[[int, int], np.ndarray], write: Callable[[np.ndarray], None], n_frames: int,
                  sample_rate: int, name: str, progress: Optional[Callable[[int], None]]) -> bool:
    block = read(0, n_frames)
    nonfinite = _silence_nonfinite(block)
    log.warning("%s: %.0f ms long, too short for the model to judge (under %.1f s): passed through unchanged",
                name, 1000 * n_frames / sample_rate, MIN_AUDIO_SECONDS)
    write(block)
    if progress is not None:
        progress(n_frames)
    return nonfinite


class StreamBuffer:
    """The recent part of a signal that arrives in blocks: samples [start, end) in memory. Blocks are
    ``append``-ed, or read from ``source`` (``source(n)``: the next (channels, <= n) block, None at the
    end) on :meth:`fill`; :meth:`drop_before` forgets what is no longer needed."""

    def __init__(self, channels: int = 1, source: Optional[Callable[[int], Optional[np.ndarray]]] = None,
                 block: int = 1) -> None:
        self.source, self.block, self.channels = source, block, channels
        self.parts: list[np.ndarray] = []
        self.start = self.end = 0
        self.ended = False

    def append(self, b: np.ndarray) -> None:
        self.parts.append(b)
        self.end += b.shape[1]

    def fill(self, until: int) -> None:
        """Reads from ``source`` until ``end >= until`` or the stream ends."""
        while not self.ended and self.end < until:
            b = self.source(self.block)  # type: ignore[misc]
            if b is None or b.shape[1] == 0:
                self.ended = True
            else:
                self.append(b)

    def _joined(self) -> np.ndarray:
        """Samples [start, end) as one (channels, n) array (the blocks are joined once, when needed)."""
        if len(self.parts) > 1:
            self.parts = [np.concatenate(self.parts, axis=1)]
        return self.parts[0] if self.parts else np.zeros((self.channels, 0), np.float32)

    def read(self, a: int, b: int) -> np.ndarray:
        """A copy of samples [a, b) (they must still be in memory)."""
        return self._joined()[:, a - self.start : b - self.start].copy()

    def at(self, index: np.ndarray) -> np.ndarray:
        """(channels, *index.shape): the samples at absolute positions ``index`` (still in memory)."""
        return self._joined()[:, index - self.start]

    def rms(self, span: int) -> np.ndarray:
        """(channels,) RMS of the last ``span`` samples read (non-finite ones as silence)."""
        tail = np.nan_to_num(self._joined()[:, -span:].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        return np.sqrt(np.mean(tail**2, axis=1))

    def drop_before(self, pos: int) -> None:
        """Forgets samples before ``pos``: memory stays that of one chunk and its context."""
        if pos > self.start and self.parts:
            self.parts, self.start = [self._joined()[:, pos - self.start :]], pos


def stream_audio_blocks(
    model: nn.Module,
    source: Callable[[int], Optional[np.ndarray]],
    write: Callable[[np.ndarray], None],
    sample_rate: int,
    strength: float = 1.0,
    chunking: Chunking = Chunking(),
    name: str = "audio",
) -> bool:
    """:func:`stream_audio` for a stream of unknown length, such as standard input: ``source(n)`` gives the
    next (channels, <= n) block or None at the end. Each chunk is computed as soon as its right-hand
    context (and, with ``chunking.merge_tail``, half a chunk more) has arrived, and its output written at
    once, so memory holds one chunk and its context. With the default chunking the output is the same as
    :func:`stream_audio` on the whole recording. Returns True if NaN or Inf samples were met."""
    _check_strength(strength)
    hop, ctx, fade = chunking.samples(sample_rate)
    buf = StreamBuffer(source=source, block=max(1, sample_rate // 20))
    buf.fill(int(MIN_AUDIO_SECONDS * sample_rate))
    if buf.ended and buf.end < MIN_AUDIO_SECONDS * sample_rate:
        return _pass_through(buf.read, write, buf.end, sample_rate, name, None) if buf.end else False
    bounds, nonfinite = [0], False
    joiner = _CrossFade(bounds, fade, write, last=-1)
    # a chunk is not the last while at least `tail` samples follow it: half a chunk for files (as
    # _boundaries decides), else enough for the cross-fade into the next one
    tail = max(hop // 2 if chunking.merge_tail else 0, 2 * fade + 1)
    while joiner.last < 0:
        lo = bounds[-1]
        buf.fill(lo + hop + tail)
        last = buf.ended and buf.end < lo + hop + tail
        bounds.append(buf.end if last else lo + hop)
        joiner.last = len(bounds) - 2 if last else -1
        buf.fill(bounds[-1] + ctx)
        a = max(0, lo - ctx)
        window = buf.read(a, min(buf.end, bounds[-1] + ctx))
        nonfinite |= _silence_nonfinite(window)
        levels = None if not chunking.level else [buf.rms(int(chunking.level * sample_rate))]
        joiner.add(len(bounds) - 2, a, _run_windows(model, [window], sample_rate, strength, levels)[0])
        buf.drop_before(max(0, bounds[-1] - ctx - fade - int(chunking.level * sample_rate)))
    return nonfinite


def denoise_audio_array(
    model: nn.Module,
    audio: np.ndarray,
    sample_rate: int,
    strength: float = 1.0,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    batch_size: Optional[int] = None,
) -> np.ndarray:
    """(T,) or (channels, T) float at any ``sample_rate`` -> float32 of the same shape and rate."""
    arr = np.asarray(audio, dtype=np.float32)
    squeeze = arr.ndim == 1
    if squeeze:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"expected audio of shape (T,) or (channels, T) with T > 0, got {np.shape(audio)}")
    if arr.shape[0] > arr.shape[1]:  # soundfile.read's (T, channels), taken as (channels, T), is silent nonsense
        raise ValueError(f"expected audio of shape (channels, T), got {np.shape(audio)}: more channels than "
                         "samples; for soundfile's (T, channels) layout pass audio.T")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    blocks: list[np.ndarray] = []
    stream_audio(model, lambda a, b: arr[:, a:b].copy(), blocks.append, arr.shape[1], sample_rate,
                 strength, chunk_seconds, batch_size)
    out = np.concatenate(blocks, axis=1)
    return out[0] if squeeze else out


# ------------------------------------------------------------------------------------------------- files
def denoise_audio_file(
    model: nn.Module, src: Path, dst: Path, *, overwrite: bool = False, strength: float = 1.0,
    batch_size: Optional[int] = None, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    progress: Optional[Callable[[float], None]] = None,
) -> None:
    """Streams ``src`` through the model into ``dst`` (same rate, channels and, where the container allows,
    subtype), never holding more than ``batch_size`` chunks in memory. ``progress`` is called with the
    seconds of audio finished after each chunk (a 10-hour file takes minutes: the CLI shows a bar)."""
    info = io.audio_info(src)
    with io.atomic_output(dst, overwrite) as tmp, io.open_reader(src, info.frames) as read, \
            io.open_writer(tmp, dst, info) as writer:
        frames_done = None if progress is None else (lambda n: progress(n / info.sample_rate))
        if stream_audio(model, read, writer.write, info.frames, info.sample_rate, strength, chunk_seconds,
                        batch_size, frames_done, name=str(src)):
            warn_nonfinite(src)
    writer.report_clipping()


# ------------------------------------------------------------------------------------------- many files
@dataclass
class FileResult:
    src: Path
    dst: Optional[Path]
    status: str  # "done" | "failed" | "skipped"
    reason: str = ""
    seconds: float = 0.0


# A model, or a function that gives the model for an image's channel count (1 or 3): the default models
# are chosen per file, since gray and colour pictures need different ones.
ModelChoice = Union[nn.Module, Callable[[int], nn.Module]]


def _failure(job: io.Job, exc: BaseException, t0: float, skip_existing: bool) -> FileResult:
    """The result of a file that raised ``exc``: an output that another run wrote meanwhile is a skip
    under ``skip_existing`` (two runs sharing a folder), anything else a failure."""
    if skip_existing and isinstance(exc, io.OutputExists):
        return FileResult(job.src, job.dst, "skipped", "output exists (written meanwhile)", time.perf_counter() - t0)
    log.debug("failed on %s", job.src, exc_info=True)
    return FileResult(job.src, job.dst, "failed", io.reason(exc), time.perf_counter() - t0)


def is_gray_rgb(pixels: np.ndarray) -> bool:
    """Whether a decoded (H, W, 3) picture is gray stored as colour (R = G = B everywhere), as scans and
    exported gray images often are: the gray model cleans those far better than a colour one."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        return False
    sample = pixels[::17, ::13]  # a colour photo differs somewhere in a sparse sample: no full comparison
    if not (np.array_equal(sample[:, :, 0], sample[:, :, 1]) and np.array_equal(sample[:, :, 1], sample[:, :, 2])):
        return False
    return bool(np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 1], pixels[:, :, 2]))


def choose_model(model: ModelChoice, data: io.ImageData, name: str = "image") -> tuple[nn.Module, np.ndarray, bool]:
    """(model, pixels to give it, whether to repeat its gray output into three channels) for a decoded
    file: ``model`` itself, or when it is a choice by channel count the model for the picture's channels,
    the gray one for gray stored as RGB (R = G = B everywhere)."""
    pixels = data.pixels
    if isinstance(model, nn.Module):
        return model, pixels, False
    if is_gray_rgb(pixels):
        log.info("%s: gray stored as RGB (R = G = B): denoised with the gray model", name)
        return model(1), pixels[:, :, :1], True
    return model(pixels.shape[2]), pixels, False


def denoise_decoded(model: ModelChoice, data: io.ImageData, name: str = "image", **kw: Any) -> np.ndarray:
    """:func:`denoise_image_array` on a decoded file with the model :func:`choose_model` picks; ``kw`` are
    its options."""
    net, pixels, repeat3 = choose_model(model, data, name)
    out = denoise_image_array(net, pixels, **kw)
    return np.repeat(out, 3, axis=2) if repeat3 else out


def denoise_paths(
    model: ModelChoice,
    jobs: Iterable[io.Job],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    strength: float = 1.0,
    batch_size: Optional[int] = None,
    workers: int = 2,
    audio_progress: Optional[Callable[[float], None]] = None,
    ensemble: bool = False,
    image_progress: Optional[Callable[[float], None]] = None,
) -> Iterator[FileResult]:
    """Denoises every job and yields one :class:`FileResult` per file as it finishes; a failing file never
    stops the others. An output that exists is checked for just before each file is computed and again at
    the final rename, so runs sharing a folder never replace each other's files (and, with
    ``skip_existing``, count them as skipped). Images: see :func:`_image_paths` (``model`` may be a
    :data:`ModelChoice`); audio: :func:`_audio_paths`. ``audio_progress`` gets seconds of audio and
    ``image_progress`` megapixels as they are finished."""
    jobs = list(jobs)
    domain = model.domain if isinstance(model, nn.Module) else "image"
    if ensemble and domain != "image":
        raise ValueError("the x8 self-ensemble is for image models only")
    for directory in sorted({job.dst.parent for job in jobs}):
        io.remove_stale_temps(directory)  # left by an earlier run that was killed
    settle = dict(overwrite=overwrite, skip_existing=skip_existing)
    if domain == "audio":
        yield from _audio_paths(model, jobs, settle, strength, batch_size, audio_progress)  # type: ignore[arg-type]
    else:
        yield from _image_paths(model, jobs, settle, workers, image_progress, strength=strength,
                                batch_size=batch_size, ensemble=ensemble)


def _settled(job: io.Job, settle: dict[str, bool]) -> Optional[FileResult]:
    """A result for ``job`` when its output exists and may not be replaced (see io.existing_output)."""
    found = io.existing_output(job, settle["overwrite"], settle["skip_existing"])
    return None if found is None else FileResult(job.src, job.dst, *found)


def _audio_paths(model: nn.Module, jobs: list[io.Job], settle: dict[str, bool], strength: float,
                 batch_size: Optional[int], progress: Optional[Callable[[float], None]]) -> Iterator[FileResult]:
    """Audio files one after another, each streamed chunk by chunk; with batches of more than one chunk
    (a GPU's default), several files at once, their chunks sharing passes (:mod:`denoise.audio_batching`)."""
    batch = batch_size or default_batch_size(model)
    if len(jobs) > 1 and batch > 1:
        from denoise.audio_batching import audio_paths_batched

        yield from audio_paths_batched(model, jobs, settle, strength, batch, progress)
        return
    for job in jobs:
        t0 = time.perf_counter()
        early = _settled(job, settle)
        if early is not None:
            yield early
            continue
        try:
            denoise_audio_file(model, job.src, job.dst, overwrite=settle["overwrite"], strength=strength,
                               batch_size=batch_size, progress=progress)
            yield FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - t0)
        except Exception as exc:
            yield _failure(job, exc, t0, settle["skip_existing"])


def _image_paths(model: ModelChoice, jobs: list[io.Job], settle: dict[str, bool], workers: int,
                 progress: Optional[Callable[[float], None]], strength: float = 1.0,
                 batch_size: Optional[int] = None, ensemble: bool = False) -> Iterator[FileResult]:
    """Images: decoded ``workers`` files ahead in background threads, their tiles batched across files
    (:mod:`denoise.batching`), encoded and written by ``workers`` background threads. Files whose output
    exists come first (nothing to compute)."""
    from denoise.batching import ImageBatcher

    todo = []
    for job in jobs:
        early = _settled(job, settle)
        if early is None:
            todo.append(job)
        else:
            yield early
    workers = max(1, workers)
    batcher = ImageBatcher(batch_size, strength, ensemble, progress=progress)
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as readers, \
            ThreadPoolExecutor(workers, thread_name_prefix="write") as writers:
        out = _Writes(writers, settle)
        ahead = max(2 * workers, batch_size or 1)
        for job, fut in _prefetch(todo, lambda job: readers.submit(io.read_image, job.src), ahead):
            t0 = time.perf_counter()
            early = _settled(job, settle)  # another run may have written it since the start
            if early is not None:
                yield early
                continue
            try:
                data = fut.result()
                batcher.add((job, data, t0), *choose_model(model, data, str(job.src)))
            except Exception as exc:
                yield _failure(job, exc, t0, settle["skip_existing"])
                continue
            yield from out.take(batcher.ready())
        yield from out.take(batcher.flush())
        yield from out.drain()


class _Writes:
    """Finished pictures handed to the writer threads; results come back in the order they were handed."""

    def __init__(self, writers: ThreadPoolExecutor, settle: dict[str, bool]) -> None:
        self.writers, self.settle = writers, settle
        self.queue: deque[tuple[io.Job, float, Future]] = deque()

    def _write(self, job: io.Job, data: io.ImageData, pixels: np.ndarray, t0: float) -> FileResult:
        io.save_image(job.dst, data, pixels, self.settle["overwrite"])
        return FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - t0)

    def take(self, finished: Iterable[tuple[Any, Any]]) -> Iterator[FileResult]:
        """Hands each (key, picture or exception) on; yields the results of writes already done."""
        for (job, data, t0), result in finished:
            if isinstance(result, BaseException):
                yield _failure(job, result, t0, self.settle["skip_existing"])
            else:
                self.queue.append((job, t0, self.writers.submit(self._write, job, data, result, t0)))
        while self.queue and self.queue[0][2].done():
            yield _written(self.queue.popleft(), self.settle["skip_existing"])

    def drain(self) -> Iterator[FileResult]:
        while self.queue:
            yield _written(self.queue.popleft(), self.settle["skip_existing"])


def _prefetch(jobs: list[io.Job], submit: Callable[[io.Job], Future], ahead: int
              ) -> Iterator[tuple[io.Job, Future]]:
    """Yields (job, future) in order, keeping up to ``ahead`` submitted beyond the one yielded."""
    queue: deque[tuple[io.Job, Future]] = deque()
    it = iter(jobs)
    while True:
        while len(queue) < ahead:
            job = next(it, None)
            if job is None:
                break
            queue.append((job, submit(job)))
        if not queue:
            return
        yield queue.popleft()


def _written(entry: tuple[io.Job, float, Future], skip_existing: bool) -> FileResult:
    job, t0, fut = entry
    try:
        return fut.result()
    except Exception as exc:
        return _failure(job, exc, t0, skip_existing)
