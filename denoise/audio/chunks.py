"""Audio as numpy arrays and streams: cut into overlapping chunks with context, run through the tensor
layer at the model's rate, and joined again by cross-fades, in bounded memory for files of any length and
for streams of unknown length."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from denoise import io
from denoise.audio.highband import band_rate, carries_high_band, high_band, model_input
from denoise.dsp import fit_length, resample
from denoise.inference import (blend, check_strength, default_batch_size, denoise_tensor, out_of_memory_error,
                               release_memory, torch_out_of_memory)
from denoise.models import is_causal

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SECONDS = 10.0
CONTEXT_SECONDS = 0.5  # audio each side of a chunk that is computed and thrown away (edge effects)
FADE_SECONDS = 0.05  # half-length of the linear cross-fade between neighbouring chunks
# Shorter audio is returned unchanged: below about 0.1 s the shipped speech model muted even clean speech by
# 30 to 40 dB (it sees too few STFT frames to tell speech from noise); from 0.2 s it kept it.
MIN_AUDIO_SECONDS = 0.2
# A causal model run forwards hears a recording's first second cold: its running level and state have not
# yet learnt the noise, and at 48 kHz that second of room tone kept 11-27 dB more white and pink noise than
# the pause after the first sentence (benchmarks/steady_noise.py). Files are not streams, so their first
# HEAD_SECONDS are also run time-reversed, where that second comes last, and the start of the output is
# taken from that pass (see ``warm_start``). With 4 s, white noise at 48 kHz lost 3.4 dB less in the first
# second than in the later pause (12 files per noise); with 6 s, at least as much everywhere.
HEAD_SECONDS = 6.0


def boundaries(n: int, hop: int) -> list[int]:
    """Chunk boundaries 0 = b0 < b1 < ... < bK = n, chunks ``hop`` long, the last between hop/2 and 1.5 hop."""
    b = list(range(0, n, hop))
    if len(b) > 1 and n - b[-1] < hop // 2:
        b.pop()
    return b + [n]


def read_window(read: Callable[[int, int], np.ndarray], bounds: list[int], k: int, ctx: int,
                n: int) -> tuple[int, np.ndarray]:
    """Chunk ``k``'s window of a signal of ``n`` samples: its span with ``ctx`` samples of context on each
    side (cut at the ends), as (first sample, (channels, L) samples)."""
    a, b = max(0, bounds[k] - ctx), min(n, bounds[k + 1] + ctx)
    return a, read(a, b)


def chunk_weight(start: int, stop: int, lo: int, hi: int, fade: int, first: bool, last: bool) -> np.ndarray:
    """Weights for samples [start, stop) of the chunk whose own span is [lo, hi): linear ramps of length
    2*fade centred on each inner boundary; the ramps of neighbours add up to exactly 1."""
    t = np.arange(start, stop, dtype=np.float64) + 0.5
    w = np.ones(stop - start, np.float64)
    if not first:
        w = np.minimum(w, np.clip((t - (lo - fade)) / (2 * fade), 0.0, 1.0))
    if not last:
        w = np.minimum(w, np.clip(((hi + fade) - t) / (2 * fade), 0.0, 1.0))
    return w.astype(np.float32)


def run_windows(model: nn.Module, windows: list[np.ndarray], sr: int, strength: float,
                levels: Optional[list[np.ndarray]] = None, heads: Optional[list[bool]] = None) -> list[np.ndarray]:
    """Denoises (channels, L) windows at rate ``sr``: given to the model as :mod:`denoise.audio.highband`
    says, every channel of every window as one batch item (windows of equal length and band share a
    batch), brought back to ``sr``, and mixed with the window's own samples by ``strength`` (linear, so
    the cross-fade of the chunks keeps it).
    ``levels``: per window, the (channels,) level to normalise by instead of the window's own RMS.
    ``heads``: per window, whether it starts its recording; such a window's start is also run
    time-reversed, in the same batch, and taken from that pass (:func:`warm_start`). Causal models only:
    a model that sees both sides of each frame has no cold start."""
    heads = heads if heads and is_causal(model) else [False] * len(windows)
    head = int(HEAD_SECONDS * sr)  # a shorter window is reversed whole
    rev = [np.ascontiguousarray(w[:, :head][:, ::-1]) for w, h in zip(windows, heads) if h]
    rev_levels = [lv for lv, h in zip(levels, heads) if h] if levels is not None else None
    bands = [band_rate(model, w, sr) for w in windows]  # a head takes its window's path (and is not measured again)
    bands += [b for b, h in zip(bands, heads) if h]
    outs = model_windows(model, windows + rev, sr, strength, bands, None if levels is None else levels + rev_levels)
    tails = iter(outs[len(windows):])
    return [warm_start(y, next(tails)[:, ::-1]) if h else y for y, h in zip(outs[: len(windows)], heads)]


def warm_start(y: np.ndarray, y_rev: np.ndarray) -> np.ndarray:
    """(channels, L) output of a recording's first window, with its first quarter of ``y_rev``'s length
    taken from ``y_rev`` (the reversed pass's output, turned forwards again: (channels, n), n <= L) and a
    linear cross-fade back to ``y`` over the next quarter. The reversed pass hears the start last, after
    the seconds that follow it; its own cold start is at the far end, which is not used."""
    n = y_rev.shape[1]
    t = np.arange(n, dtype=np.float64) + 0.5
    w = np.clip((n / 2 - t) / (n / 4), 0.0, 1.0).astype(np.float32)  # 1 up to n/4, 0 from n/2
    y = y.copy()
    y[:, :n] = w * y_rev + (1.0 - w) * y[:, :n]
    return y


def model_windows(model: nn.Module, windows: list[np.ndarray], sr: int, strength: float, bands: list[int],
                  levels: Optional[list[np.ndarray]] = None) -> list[np.ndarray]:
    """:func:`run_windows` without the reversed heads; ``bands``: per window, the band it is given to the
    model in (:func:`denoise.audio.highband.band_rate`)."""
    msr = model.sample_rate
    outs: list[Optional[np.ndarray]] = [None] * len(windows)
    groups: dict[tuple[int, int], list[int]] = {}  # (length, band rate) -> windows
    for i, (win, band) in enumerate(zip(windows, bands)):
        groups.setdefault((win.shape[1], band), []).append(i)
    for (length, band), idx in groups.items():
        stack = np.concatenate([windows[i] for i in idx], axis=0)  # (sum channels, L)
        x = model_input(model, stack, sr, band)
        level = None if levels is None else torch.from_numpy(
            np.concatenate([levels[i] for i in idx]).astype(np.float32)[:, None])
        y_model = denoise_tensor(model, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), level).numpy()
        y = fit_length(resample(y_model, msr, sr), length)
        if carries_high_band(model, sr, band):
            y = y + high_band(model, stack, x, y_model, sr)
        pos = 0
        for i in idx:
            ch = windows[i].shape[0]
            outs[i] = blend(y[pos : pos + ch], windows[i], strength)
            pos += ch
    return outs  # type: ignore[return-value]


@dataclass(frozen=True)
class Chunking:
    """How audio is cut: chunks of ``chunk`` seconds, ``context`` seconds more on each side computed and
    thrown away, ``fade`` seconds of cross-fade each side of a boundary. ``merge_tail``: a last chunk
    shorter than half a chunk joins the one before (files; it needs half a chunk of look-ahead).
    ``level``: short windows normalised by their own RMS are seen at another scale than in a file run's
    10 s chunks; with ``level`` > 0 the RMS of that many seconds up to the window's end is used instead
    (streams only). ``head``: the first chunk's start is also run time-reversed (``run_windows``' heads;
    files, which can wait ``HEAD_SECONDS`` for it; not streams, which keep the causal path)."""

    chunk: float = DEFAULT_CHUNK_SECONDS
    context: float = CONTEXT_SECONDS
    fade: float = FADE_SECONDS
    merge_tail: bool = True
    level: float = 0.0  # > 0: normalise by the RMS of the last this many seconds, not the window's own
    head: bool = True

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
    check_strength(strength)
    if n_frames < MIN_AUDIO_SECONDS * sample_rate:
        return pass_through(read, write, n_frames, sample_rate, name, progress)
    batch_size = batch_size or default_batch_size(model)
    hop, ctx, fade = Chunking(chunk=chunk_seconds).samples(sample_rate)
    bounds = boundaries(n_frames, hop)
    joiner = CrossFade(bounds, fade, write)
    nonfinite = False
    for g in range(0, len(bounds) - 1, batch_size):
        ks = list(range(g, min(g + batch_size, len(bounds) - 1)))
        spans, windows = zip(*(read_window(read, bounds, k, ctx, n_frames) for k in ks))
        for w in windows:
            nonfinite |= silence_nonfinite(w)
        try:
            results = run_windows(model, list(windows), sample_rate, strength, heads=[k == 0 for k in ks])
        except RuntimeError as exc:
            if not torch_out_of_memory(exc):
                raise
            release_memory(next(model.parameters()).device)
            raise out_of_memory_error(model, f"on a single {chunk_seconds:g} s chunk") from None
        for k, a, y in zip(ks, spans, results):
            joiner.add(k, a, y)
            if progress is not None:
                progress(bounds[k + 1] - bounds[k])
    return nonfinite


class CrossFade:
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
        seg = y[:, keep_a - start : keep_b - start] * chunk_weight(keep_a, keep_b, lo, hi, fade, k == 0, k == self.last)
        if self.pending is not None:
            seg[:, : self.pending.shape[1]] += self.pending
        split = seg.shape[1] if k == self.last else seg.shape[1] - 2 * fade
        self.write(seg[:, :split])
        self.pending = None if k == self.last else seg[:, split:]


def warn_nonfinite(name: object) -> None:
    """The one warning for audio whose NaN or Inf samples were silenced (see :func:`silence_nonfinite`)."""
    log.warning("%s: NaN or Inf samples were treated as silence", name)


def silence_nonfinite(block: np.ndarray) -> bool:
    """Sets NaN and Inf samples to 0 in place (one bad sample must not spread through the STFT into the
    whole chunk); returns whether there were any."""
    bad = ~np.isfinite(block)
    block[bad] = 0.0
    return bool(bad.any())


def pass_through(read: Callable[[int, int], np.ndarray], write: Callable[[np.ndarray], None], n_frames: int,
                  sample_rate: int, name: str, progress: Optional[Callable[[int], None]]) -> bool:
    block = read(0, n_frames)
    nonfinite = silence_nonfinite(block)
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
    check_strength(strength)
    hop, ctx, fade = chunking.samples(sample_rate)
    buf = StreamBuffer(source=source, block=max(1, sample_rate // 20))
    buf.fill(int(MIN_AUDIO_SECONDS * sample_rate))
    if buf.ended and buf.end < MIN_AUDIO_SECONDS * sample_rate:
        return pass_through(buf.read, write, buf.end, sample_rate, name, None) if buf.end else False
    bounds, nonfinite = [0], False
    joiner = CrossFade(bounds, fade, write, last=-1)
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
        nonfinite |= silence_nonfinite(window)
        levels = None if not chunking.level else [buf.rms(int(chunking.level * sample_rate))]
        first = [chunking.head and len(bounds) == 2]
        joiner.add(len(bounds) - 2, a, run_windows(model, [window], sample_rate, strength, levels, first)[0])
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
