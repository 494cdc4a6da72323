"""Frame-by-frame streaming with a causal model: the same output as a file run, within the stated delay."""

import numpy as np
import pytest
import torch

from denoise import checkpoint
from denoise.audio.chunks import denoise_audio_array
from denoise.metrics import si_sdr
from denoise.audio.realtime import CausalStream, StreamResampler
from tests.conftest import speechlike


def noisy(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = np.stack([speechlike(seconds, rate, seed=c) for c in range(channels)])
    return (x + 0.02 * rng.standard_normal(x.shape)).astype(np.float32)


def run_stream(model, x: np.ndarray, rate: int, block: int, strength: float = 1.0):
    """Pushes ``x`` in blocks; returns the output and, per push, (samples in so far, samples out so far)."""
    s = CausalStream(model, rate, x.shape[0], strength)
    outs, timeline = [], []
    for a in range(0, x.shape[1], block):
        outs.append(s.push(x[:, a : a + block]))
        timeline.append((min(a + block, x.shape[1]), sum(o.shape[1] for o in outs)))
    outs.append(s.finish())
    return np.concatenate(outs, axis=1), timeline, s


@pytest.fixture(scope="module")
def crn(causal_audio_ckpt):
    return checkpoint.load(causal_audio_ckpt, "audio", 1)


@pytest.mark.parametrize("rate,up,down", [(48000, 1, 3), (16000, 3, 1), (44100, 160, 441)])
def test_resampler_output_does_not_depend_on_the_blocks(rate, up, down):
    x = noisy(0.5, rate)
    whole = StreamResampler(rate, rate * up // down, 1)
    a = np.concatenate([whole.push(x), whole.flush()], axis=1)
    pieces = StreamResampler(rate, rate * up // down, 1)
    b = np.concatenate([pieces.push(x[:, i : i + 97]) for i in range(0, x.shape[1], 97)] + [pieces.flush()], axis=1)
    assert a.shape[1] == b.shape[1] == -(-x.shape[1] * up // down)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_resampler_keeps_a_tone_and_removes_what_the_lower_rate_cannot_hold():
    t = np.arange(48000) / 48000
    kept, removed = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 12000 * t)
    r = StreamResampler(48000, 16000, 2)
    y = np.concatenate([r.push(np.stack([kept, removed])), r.flush()], axis=1)[:, 200:-200]
    assert np.sqrt(np.mean(y[0] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.01)
    assert np.sqrt(np.mean(y[1] ** 2)) < 1e-3


def test_at_the_model_rate_the_stream_is_the_whole_signal_run(crn):
    x = noisy(2.0, 16000)
    y, _, _ = run_stream(crn, x, 16000, block=128)
    with torch.no_grad():
        whole = crn(torch.from_numpy(x)).numpy()
    assert y.shape == x.shape
    assert si_sdr(whole[0], y[0]) > 60


@pytest.mark.parametrize("rate", [48000, 44100])
def test_above_the_model_rate_it_matches_a_file_run_high_band_included(crn, rate):
    x = noisy(2.0, rate, channels=2)
    y, _, _ = run_stream(crn, x, rate, block=rate // 125)
    ref = denoise_audio_array(crn, x, rate)
    assert y.shape == x.shape
    for c in range(2):
        assert si_sdr(ref[c], y[c]) > 35


@pytest.mark.parametrize("rate,block,seconds", [(16000, 1, 0.1), (16000, 128, 1.0), (16000, 50, 1.0),
                                                (48000, 1, 0.1), (44100, 1, 0.1), (22050, 1, 0.1),
                                                (48000, 384, 1.0), (48000, 1000, 1.0)])
def test_every_sample_comes_out_within_the_stated_delay(crn, rate, block, seconds):
    x = noisy(seconds, rate)
    y, timeline, s = run_stream(crn, x, rate, block)
    late = [pushed - out for pushed, out in timeline]
    # a sample waits for the look-ahead plus, at worst, the rest of its block
    assert max(late) <= np.ceil(s.latency_seconds * rate) + block - 1
    assert s.latency_seconds <= (511 / 16000 if rate == 16000 else 0.0351)


def test_output_is_proportional_to_the_input_level(crn):
    x = noisy(1.0, 48000)
    x = x / np.sqrt(np.mean(x**2))
    loud, _, _ = run_stream(crn, x * 10 ** (-10 / 20), 48000, 384)
    quiet, _, _ = run_stream(crn, x * 10 ** (-50 / 20), 48000, 384)
    np.testing.assert_allclose(quiet * 100, loud, atol=1e-5 * np.abs(loud).max())


def test_strength_mixes_the_input_back_in(crn):
    x = noisy(1.0, 16000)
    wet, _, _ = run_stream(crn, x, 16000, 128)
    half, _, _ = run_stream(crn, x, 16000, 128, strength=0.5)
    np.testing.assert_allclose(half, 0.5 * wet + 0.5 * x, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 100, 257])
def test_streams_shorter_than_a_window_come_back_whole(crn, n):
    x = noisy(0.1, 48000)[:, : 3 * n]
    y, _, _ = run_stream(crn, x, 48000, 384)
    assert y.shape == x.shape and np.isfinite(y).all()


def test_a_model_that_needs_the_future_is_refused(audio_ckpt):
    with pytest.raises(ValueError, match="causal"):
        CausalStream(checkpoint.load(audio_ckpt, "audio", 1), 16000, 1)
