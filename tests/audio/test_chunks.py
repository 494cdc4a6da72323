"""Audio cut into windows and run through a model (denoise.audio.chunks)."""

import numpy as np
import pytest

from denoise.audio.chunks import HEAD_SECONDS, model_windows, run_windows, warm_start
from denoise.audio.highband import band_rate
from denoise.dsp import resample


def test_a_recordings_start_run_reversed_takes_the_band_of_its_window(fullband):
    """The first HEAD_SECONDS hold nothing above 8 kHz (a 16 kHz recording), the seconds after them hiss
    that reaches 24 kHz: the window as a whole goes to the model whole-band, and so must its reversed start,
    whose output is cross-faded into the window's (measured alone, the start would take the 16 kHz path)."""
    sr = 48000
    rng = np.random.default_rng(0)
    head = resample(0.1 * rng.standard_normal((1, int(HEAD_SECONDS * 16000))).astype(np.float32), 16000, sr)
    rest = 0.1 * rng.standard_normal((1, 2 * sr)).astype(np.float32)
    window = np.concatenate([head, rest], axis=1)
    assert band_rate(fullband, head, sr) == 16000 and band_rate(fullband, window, sr) == sr
    out = run_windows(fullband, [window], sr, 1.0, heads=[True])[0]
    reversed_head = np.ascontiguousarray(head[:, ::-1])
    forward, backward = (model_windows(fullband, [w], sr, 1.0, [sr])[0] for w in (window, reversed_head))
    np.testing.assert_allclose(out, warm_start(forward, backward[:, ::-1]), atol=1e-5)
