"""`denoise live`: the duplex glue around CausalStream, driven by a stand-in for sounddevice (no sound
cards where the tests run)."""

import sys
import types

import numpy as np
import pytest

from denoise import checkpoint
from denoise.audio.live import LiveDuplex, run_live
from denoise.audio.realtime import CausalStream
from tests.conftest import run, speechlike

RATE = 48000


def signal(seconds: float) -> np.ndarray:
    x = speechlike(seconds, RATE) + 0.02 * np.random.default_rng(0).standard_normal(int(seconds * RATE))
    return x.astype(np.float32)[:, None]  # (frames, channels), as sounddevice gives it


@pytest.fixture(scope="module")
def crn(causal_audio_ckpt):
    return checkpoint.load(causal_audio_ckpt, "audio", 1)


def test_plays_the_stream_output_after_a_constant_delay(crn):
    x = signal(0.5)
    duplex = LiveDuplex(crn, RATE, 1, block=384)
    played = np.concatenate([duplex.process(x[a : a + 384]) for a in range(0, len(x), 384)])
    s = CausalStream(crn, RATE, 1)
    direct = np.concatenate([s.push(x[a : a + 384].T) for a in range(0, len(x), 384)], axis=1)[0]
    d = duplex.delay_samples
    assert len(played) == len(x) and not played[:d].any()
    np.testing.assert_allclose(played[d:, 0], direct[: len(x) - d], atol=1e-6)


class FakeStream:
    """sounddevice.Stream's contract as run_live uses it: the callback gets (indata, outdata, frames, time,
    status) per block until it raises CallbackStop; then finished_callback."""

    played: list = []

    def __init__(self, samplerate, blocksize, channels, dtype, device, callback, finished_callback):
        self.block, self.callback, self.finished = blocksize, callback, finished_callback
        FakeStream.played = []

    def __enter__(self):
        x, status = signal(1.0), types.SimpleNamespace(input_overflow=False, output_underflow=False)
        for a in range(0, len(x), self.block):
            out = np.zeros((self.block, 1), np.float32)
            try:
                self.callback(x[a : a + self.block], out, self.block, None, status)
            except FakeSounddevice.CallbackStop:
                FakeStream.played.append(out)
                break
            FakeStream.played.append(out)
        self.finished()
        return self

    def __exit__(self, *exc):
        return False


class FakeSounddevice(types.ModuleType):
    class CallbackStop(Exception):
        pass

    Stream = FakeStream


def test_run_live_stops_after_the_time_asked_for(crn, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSounddevice("sounddevice"))
    found = run_live(crn, RATE, 1, seconds=0.5)
    played = np.concatenate(FakeStream.played)
    assert len(played) == -(-RATE // 2 // 384) * 384  # blocks of one hop (384 frames at 48 kHz) up to 0.5 s
    assert found["delay_ms"] == pytest.approx(34.96 + 1000 * 383 / RATE, abs=0.05)  # algorithm + one block
    assert np.abs(played).max() > 0.01  # sound after the delay
    assert found["input_overflow"] == found["output_underflow"] == 0


def test_cli_says_what_to_install_and_which_models_can_do_it(causal_audio_ckpt, audio_ckpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    r = run("live", "--model", causal_audio_ckpt)
    assert r.exit_code == 2 and "pip install sounddevice" in r.output and "Traceback" not in r.output
    assert "denoise[" not in r.output
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSounddevice("sounddevice"))
    r = run("live", "--model", audio_ckpt)
    assert r.exit_code == 2 and "not causal" in r.output
    r = run("live", "--model", causal_audio_ckpt, "--seconds", "0.2")
    assert r.exit_code == 0, r.output
    assert "delay 42.9 ms" in r.output
