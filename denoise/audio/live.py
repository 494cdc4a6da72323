"""Live microphone denoising (``denoise live``): a sound card's duplex stream through :class:`CausalStream`.

A thin layer: sounddevice (PortAudio, the ``[live]`` extra) calls back with each block captured and wants a
block to play; :class:`LiveDuplex` pushes the captured block through the causal model and plays from a
queue that starts with just enough silence that it never runs dry: the algorithmic delay plus one block.
It cannot be tested against real sound cards where the tests run (none there); the tests drive it with a
stand-in for sounddevice's stream.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Optional

import numpy as np
from torch import nn

from denoise.audio.realtime import CausalStream
from denoise.extras import install_hint

log = logging.getLogger(__name__)


class LiveDuplex:
    """The per-block work of a duplex stream: ``process((frames, channels) captured)`` returns the
    (frames, channels) block to play, the denoised input delayed by :attr:`delay_samples`, which stays
    constant for the whole stream (the first blocks play the silence the queue starts with)."""

    def __init__(self, model: nn.Module, rate: int, channels: int, block: int, strength: float = 1.0) -> None:
        self.stream = CausalStream(model, rate, channels, strength)
        self.delay_samples = math.ceil(self.stream.latency_seconds * rate) + block - 1
        self.queue = np.zeros((channels, self.delay_samples), np.float32)

    def process(self, captured: np.ndarray) -> np.ndarray:
        out = self.stream.push(np.ascontiguousarray(captured.T, dtype=np.float32))
        self.queue = np.concatenate([self.queue, out], axis=1)
        n = captured.shape[0]
        if self.queue.shape[1] < n:  # cannot happen with blocks of at most `block` frames; play silence then
            self.queue = np.concatenate([np.zeros((self.queue.shape[0], n - self.queue.shape[1]), np.float32),
                                         self.queue], axis=1)
        played, self.queue = self.queue[:, :n], self.queue[:, n:]
        return played.T


def require_sounddevice() -> Any:
    """The sounddevice module, or ImportError with the one line that says what to install."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the module is there but PortAudio is not
        raise ImportError(f"live audio needs sounddevice and PortAudio: {install_hint('live')} and the PortAudio "
                          f"library, e.g. apt-get install libportaudio2 ({exc})") from None
    return sounddevice


def run_live(model: nn.Module, rate: int = 48000, channels: int = 1, block: Optional[int] = None,
             device: Any = None, seconds: Optional[float] = None, strength: float = 1.0) -> dict[str, Any]:
    """Denoises the default (or ``device``) input into the default output until ``seconds`` have passed
    or the stream is stopped (Ctrl-C). ``block``: frames per callback (default: one STFT hop at ``rate``).
    Returns the delay and the number of over- and underruns the sound card reported."""
    sd = require_sounddevice()
    block = block or max(1, round(model.stft_cfg.hop_length * rate / model.sample_rate))
    duplex = LiveDuplex(model, rate, channels, block, strength)
    problems = {"input_overflow": 0, "output_underflow": 0}
    done = threading.Event()
    frames_left = [math.inf if seconds is None else int(seconds * rate)]

    def callback(indata: np.ndarray, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        for key in problems:
            problems[key] += bool(getattr(status, key, False))
        outdata[:] = duplex.process(indata)
        frames_left[0] -= frames
        if frames_left[0] <= 0:
            done.set()
            raise sd.CallbackStop

    with sd.Stream(samplerate=rate, blocksize=block, channels=channels, dtype="float32", device=device,
                   callback=callback, finished_callback=done.set):
        done.wait()
    log.info("live: %d input overflows, %d output underflows", problems["input_overflow"],
             problems["output_underflow"])
    return {"delay_ms": 1000 * duplex.delay_samples / rate, **problems}
