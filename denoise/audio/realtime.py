"""Frame-by-frame denoising with a causal audio model, for live streams (``denoise audio --stream``).

A causal network (one with ``step``, such as ``crn``) is run one STFT hop at a time, carrying its state, so
the delay is that of the STFT itself: a sample is final once the last centred window that covers it is
complete, n_fft - 1 samples later at the model's rate (31.9 ms for the 512-point window at 16 kHz): the
algorithmic latency as the DNS Challenge counts it (the window length; the wait for a block of input to
fill is buffering, which depends on the caller's block size). At other input rates two short resampling
filters add their delay (:class:`StreamResampler`, 1.5 ms each). The spectrogram frames are those of
``dsp.stft`` on the whole signal (reflect padding at both ends included), and the overlap-add divides by
the same window sum as ``torch.istft``, so at the model's rate the output equals a file run's up to float
rounding and the level normalisation (see :data:`STREAM_LEVEL`).

Layers: :class:`CausalStream` (numpy blocks in and out, at the input rate) on top of the model's
``stft_cfg``, ``features`` and ``net.step``; :mod:`denoise.runner.pipes` feeds it from a pipe.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from denoise import dsp
from denoise.audio.chunks import StreamBuffer
from denoise.audio.highband import gain_per_sample, top_band_gain
from denoise.device import use_cpu_threads
from denoise.models import is_causal
from denoise.dsp import fit_length
from denoise.inference import blend, check_strength


# The level a stream's features are divided by. A causal network normalises its input itself (crn subtracts
# a running mean of the log power), so a constant level cancels out; a level that changed over time (a
# running RMS) would not, and took the output to 26-49 dB SI-SDR from the file run's, where a constant gave
# 56-106 dB. The smallest level keeps the log's floor (dsp.EPS) under any real signal, so the output
# is proportional to the input.
STREAM_LEVEL = 1e-5


class StreamResampler:
    """Streaming resampling from ``rate_in`` to ``rate_out``: (channels, n) blocks in, the output samples
    that are final out, in order. A Kaiser-windowed sinc of ``zeros`` zero crossings each side (at the
    lower rate), applied polyphase: output k is sum_n x[n] h(k * down - n * up + half). Output k is final
    once input sample (k * down + half) // up has arrived: :attr:`delay` input samples after its own
    position. The signal is taken as zero before its start and, at :meth:`flush`, after its end."""

    def __init__(self, rate_in: int, rate_out: int, channels: int, zeros: int = 24) -> None:
        from scipy.signal import firwin

        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.half = zeros * max(self.up, self.down)
        cutoff = 0.9 / max(self.up, self.down)
        self.taps = firwin(2 * self.half + 1, cutoff, window=("kaiser", 8.6)) * self.up
        self.history = np.zeros((channels, 0))
        self.start = 0  # input index of history[:, 0]
        self.seen = 0  # input samples pushed
        self.produced = 0  # output samples given out
        self.delay = self.half // self.up

    def _compute(self, until: int) -> np.ndarray:
        """Output samples produced..until-1, from the input kept in ``history``; then forgets the input
        that no later output needs."""
        taps = 2 * self.half // self.up + 1  # input samples under the filter, at most
        m = np.arange(self.produced, until) * self.down + self.half
        n = (m // self.up)[:, None] - np.arange(taps)[None, :]  # (K, taps) input indices
        h_index = m[:, None] - n * self.up
        valid = (h_index <= 2 * self.half) & (n >= 0) & (n < self.seen)
        weights = np.where(valid, self.taps[np.clip(h_index, 0, 2 * self.half)], 0.0)
        rel = np.clip(n - self.start, 0, max(self.history.shape[1] - 1, 0))
        x = self.history[:, rel] if self.history.shape[1] else np.zeros((self.history.shape[0],) + n.shape)
        self.produced = until
        first_needed = (until * self.down + self.half) // self.up - taps + 1  # by the next output
        drop = max(0, min(self.seen, first_needed - 1) - self.start)
        self.history, self.start = self.history[:, drop:], self.start + drop
        return np.einsum("ckt,kt->ck", x, weights).astype(np.float32)

    def push(self, block: np.ndarray) -> np.ndarray:
        """(channels, n) input -> (channels, m) output, m >= 0: every output k whose last input sample,
        (k * down + half) // up, has arrived."""
        self.history = np.concatenate([self.history, block.astype(np.float64)], axis=1)
        self.seen += block.shape[1]
        until = max(self.produced, (self.seen * self.up - self.half - 1) // self.down + 1)
        return self._compute(until)

    def flush(self) -> np.ndarray:
        """The rest of a signal that has ended: ceil(input length * up / down) output samples in all."""
        return self._compute(max(self.produced, -(-self.seen * self.up // self.down)))


class CausalStream:
    """Denoises a live signal block by block with a causal audio model; see the module docstring.

    ``push((channels, n) block at rate)`` returns the (channels, m) output samples that are final, in
    order; ``finish()`` returns the rest, so that the output has exactly as many samples as the input.
    Above the model's rate, the band the model cannot hold is kept, scaled frame by frame by the gain the
    model gave its top octave (``highband.top_band_gain``), as file runs do; ``strength`` mixes the input
    back in as they do. The features are normalised by the constant :data:`STREAM_LEVEL`: see there."""

    def __init__(self, model: nn.Module, rate: int, channels: int, strength: float = 1.0) -> None:
        if not is_causal(model):
            raise ValueError("frame-by-frame streaming needs a causal audio model (its network has step())")
        check_strength(strength)
        use_cpu_threads(1)  # one STFT hop a step: threads would cost more than they save (device.threads_for)
        cfg = model.stft_cfg
        self.model, self.rate, self.msr, self.strength = model, rate, model.sample_rate, strength
        self.n, self.hop, self.channels = cfg.n_fft, cfg.hop_length, channels
        self.window = dsp.frame_window(cfg)
        self.resampled = rate != self.msr
        self.down = StreamResampler(rate, self.msr, channels) if self.resampled else None
        self.up_y = StreamResampler(self.msr, rate, channels) if self.resampled else None
        self.up_x = StreamResampler(self.msr, rate, channels) if self.resampled else None
        self.x = StreamBuffer(channels)  # the input at the model's rate
        self.inp, self.y_in, self.low_in = StreamBuffer(channels), StreamBuffer(channels), StreamBuffer(channels)
        self.acc = np.zeros((channels, 0))  # overlap-add of frames, from model-rate sample acc_start
        self.wsum = np.zeros(0)
        self.acc_start = -self.n // 2
        self.frames = 0  # frames computed
        self.y_done = 0  # model-rate output samples final
        self.gains = np.zeros((channels, 0))  # (channels, frames) top-octave gains from frame gain_start
        self.gain_start = 0
        self.out = 0  # input-rate samples given out
        self.state: Optional[dict[str, Any]] = None

    @property
    def latency_seconds(self) -> float:
        """Algorithmic delay: the window's reach past a sample (n_fft - 1 samples at the model's rate) and
        the two resampling filters. Fed in blocks of B samples, a sample waits up to B - 1 more (buffering)."""
        delay = (self.n - 1) / self.msr
        if self.resampled:  # the filters, and a sample for the rounding of positions between the rates
            filters = self.down.delay / self.rate + self.up_y.delay / self.msr  # type: ignore[union-attr]
            delay += filters + 1 / self.rate
        return delay

    def push(self, block: np.ndarray) -> np.ndarray:
        """(channels, n) float32 at ``rate`` -> the (channels, m) output samples now final."""
        self.inp.append(block)
        self._model_input(self.down.push(block) if self.down is not None else block, final=False)
        return self._emit(final=False)

    def finish(self) -> np.ndarray:
        """The rest of the output once the input has ended."""
        self._model_input(self.down.flush() if self.down is not None else np.zeros((self.channels, 0)), final=True)
        return self._emit(final=True)

    def _frame_samples(self, first: int, last: int, final: bool) -> torch.Tensor:
        """(channels, K, n_fft) windowed samples of frames first..last-1, centred on j * hop, reflected at the
        start (and at the end once ``final``) as ``dsp.stft`` pads."""
        total = self.x.end
        idx = np.arange(first, last)[:, None] * self.hop - self.n // 2 + np.arange(self.n)[None, :]
        if total > self.n // 2:
            idx = np.abs(idx)
            if final:
                idx = np.where(idx >= total, 2 * (total - 1) - idx, idx)
            seg = self.x.at(idx)
        else:  # as short as this, dsp.stft pads with zeros (then the whole signal is still in memory)
            inside = (idx >= 0) & (idx < total)
            seg = np.where(inside, self.x.at(np.clip(idx, 0, max(total - 1, 0))), 0.0)
        return torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32)) * self.window

    def _run_frames(self, first: int, last: int, final: bool, level: torch.Tensor) -> None:
        """Computes frames first..last-1 and overlap-adds them; records each frame's top-octave gain."""
        spec = torch.fft.rfft(self._frame_samples(first, last, final), dim=-1).transpose(1, 2)  # (C, F, K)
        with torch.inference_mode():
            est, self.state = self.model.estimate_frames(spec, level, self.state)
        self.gains = np.concatenate([self.gains, top_band_gain(self.model, spec, est).double().numpy()], axis=1)
        frames = (torch.fft.irfft(est.transpose(1, 2), n=self.n, dim=-1) * self.window).double().numpy()
        need = (last - 1) * self.hop + self.n // 2 - self.acc_start
        if need > self.acc.shape[1]:
            self.acc = np.pad(self.acc, ((0, 0), (0, need - self.acc.shape[1])))
            self.wsum = np.pad(self.wsum, (0, need - self.wsum.shape[0]))
        w2 = (self.window.double() ** 2).numpy()
        for k, j in enumerate(range(first, last)):
            a = j * self.hop - self.n // 2 - self.acc_start
            self.acc[:, a : a + self.n] += frames[:, k]
            self.wsum[a : a + self.n] += w2

    def _model_input(self, block: np.ndarray, final: bool) -> None:
        """Takes model-rate input, computes every frame it completes, passes the final output on."""
        self.x.append(block)
        if self.up_x is not None:
            self.low_in.append(self.up_x.push(block) if not final else
                               np.concatenate([self.up_x.push(block), self.up_x.flush()], axis=1))
        level = torch.full((block.shape[0], 1), STREAM_LEVEL)
        total = self.x.end
        if final:
            last = 1 + total // self.hop if total else 0  # as many frames as dsp.stft gives; none for nothing
        else:
            last = (total - self.n // 2) // self.hop + 1 if total > self.n // 2 else 0
        if last > self.frames:
            self._run_frames(self.frames, last, final, level)
            self.frames = last
        until = total if final else min(total, max(0, last * self.hop - self.n // 2))
        if until > self.y_done:
            a, b = self.y_done - self.acc_start, until - self.acc_start
            w = self.wsum[a:b]
            y = np.where(w > 1e-11, self.acc[:, a:b] / np.maximum(w, 1e-11), 0.0).astype(np.float32)
            self.acc, self.wsum, self.acc_start = self.acc[:, b:], self.wsum[b:], until
            self.y_done = until
            self.y_in.append(self.up_y.push(y) if self.up_y is not None else y)
        if final and self.up_y is not None:
            self.y_in.append(self.up_y.flush())
        self.x.drop_before(max(0, self.frames * self.hop - self.n // 2))

    def _emit(self, final: bool) -> np.ndarray:
        """The input-rate output samples that all paths have reached (all of them once ``final``)."""
        end = self.inp.end
        if not final:
            end = min(end, self.y_in.end, self.low_in.end if self.resampled else end)
        if end <= self.out:
            return np.zeros((self.channels, 0), np.float32)
        dry = self.inp.read(self.out, end)
        wet = fit_length(self.y_in.read(self.out, end), end - self.out)
        if self.resampled:
            high = dry - fit_length(self.low_in.read(self.out, end), end - self.out)
            wet = wet + high * self._gain_per_sample(self.out, end)
        out = blend(wet.astype(np.float32), dry, self.strength)
        self.out = end
        for line in (self.inp, self.y_in, self.low_in):
            line.drop_before(end)
        return out

    def _gain_per_sample(self, a: int, b: int) -> np.ndarray:
        """(channels, b - a) top-octave gain at input-rate samples a..b-1, linear between frame centres
        (frame j is centred on model-rate sample j * hop), then forgets the frames before a."""
        per = self.hop * self.rate / self.msr
        out = gain_per_sample(self.gains, self.gain_start, np.arange(a, b), per)
        drop = max(0, int(a / per) - 1 - self.gain_start)
        self.gains, self.gain_start = self.gains[:, drop:], self.gain_start + drop
        return out
