"""Fuzzing the readers with mutated real files: whatever the bytes, a reader returns valid data or raises
InputError (the one-line error the CLI prints); never another exception, never a hang. Bounded by
max_examples so CI stays fast."""

import io as pyio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from denoise import io  # noqa: E402
from tests.robustness.cases import jpeg_bytes, png_bytes, wav_bytes  # noqa: E402

RNG = np.random.default_rng(0)
SEEDS = {
    ".png": png_bytes((RNG.random((24, 20, 3)) * 255).astype(np.uint8)),
    ".jpg": jpeg_bytes((RNG.random((24, 20, 3)) * 255).astype(np.uint8)),
    ".gif": (lambda b: (Image.fromarray((RNG.random((16, 16)) * 255).astype(np.uint8)).save(b, "GIF"), b.getvalue())[1])(pyio.BytesIO()),
}
AUDIO_SEEDS = {
    ".wav": wav_bytes((0.1 * RNG.standard_normal(2000)).astype(np.float32), subtype="PCM_16"),
    ".flac": (lambda b: (sf.write(b, (0.1 * RNG.standard_normal(2000)).astype(np.float32), 16000, format="FLAC"), b.getvalue())[1])(pyio.BytesIO()),
}


@st.composite
def mutated(draw, seeds):
    ext = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[ext])
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "zero_run"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif op == "zero_run":
            data[pos : pos + draw(st.integers(1, 64))] = b"\x00" * len(data[pos : pos + 64])
    return ext, bytes(data)


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _read_mutated(factory, case, reader):
    """``reader(path)`` on the mutated bytes, or None when it raised InputError (checked to be one line)."""
    ext, data = case
    path = Path(factory.mktemp("fz")) / f"f{ext}"
    path.write_bytes(data)
    try:
        return reader(path)
    except io.InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None


@FUZZ
@given(case=mutated(SEEDS))
def test_image_reader_returns_pixels_or_input_error(tmp_path_factory, case):
    img = _read_mutated(tmp_path_factory, case, io.read_image)
    if img is not None:
        assert img.pixels.ndim == 3 and img.pixels.shape[2] in (1, 3) and img.pixels.dtype == np.float32


@FUZZ
@given(case=mutated(AUDIO_SEEDS))
def test_audio_readers_return_samples_or_input_error(tmp_path_factory, case):
    got = _read_mutated(tmp_path_factory, case, lambda p: (io.audio_info(p), io.read_audio(p)))
    if got is not None:
        info, (audio, sr) = got
        assert info.frames > 0 and audio.ndim == 2 and audio.shape[1] > 0 and sr > 0
