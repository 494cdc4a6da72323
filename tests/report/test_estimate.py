"""Noise estimates against noise of known strength: they must land near the truth, not merely run."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import smooth_image, speechlike

from denoise import io
from denoise.report.estimate import audio_excerpts, audio_noise, estimate_file, image_noise


def _picture(h: int = 192, w: int = 256, c: int = 1) -> np.ndarray:
    """A clean picture with what real ones have: smooth shading, hard edges and fine stripes, in [0.1, 0.9]."""
    img = smooth_image(h, w, c)
    y, x = np.mgrid[0:h, 0:w]
    img[(x // 40 + y // 30) % 2 == 0] += 0.4  # a checkerboard of hard edges
    img[:, : w // 4] += 0.2 * np.sin(x[:, : w // 4] * 1.3)[:, :, None]  # fine texture
    img -= img.min()
    return 0.1 + 0.8 * img / img.max()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sigma", [10, 25, 50])
def test_image_sigma_within_15_percent(sigma: float, channels: int) -> None:
    clean = _picture(c=channels) * 255
    noisy = np.clip(np.round(clean + np.random.default_rng(1).normal(0, sigma, clean.shape)), 0, 255) / 255
    est = image_noise(noisy)
    assert abs(est.sigma - sigma) <= 0.15 * sigma, est
    assert len(est.sigma_per_channel) == channels
    assert all(abs(s - sigma) <= 0.15 * sigma for s in est.sigma_per_channel)


def test_clean_picture_reads_as_almost_noise_free() -> None:
    assert image_noise(np.round(_picture() * 255) / 255).sigma < 2.0


def test_each_channel_is_estimated_on_its_own() -> None:
    clean = _picture(c=3) * 255
    noise = np.random.default_rng(2).normal(0, 1, clean.shape) * np.array([5.0, 20.0, 40.0])
    est = image_noise(np.clip(clean + noise, 0, 255) / 255)
    assert est.sigma_per_channel[0] < est.sigma_per_channel[1] < est.sigma_per_channel[2]
    assert abs(est.sigma_per_channel[1] - 20) < 3


def test_what_cannot_be_told_is_unknown_not_zero() -> None:
    assert image_noise(np.full((64, 64), 0.5)).sigma == 0.0  # flat and unclipped: truly noise-free
    assert np.isnan(image_noise(np.full((4, 4), 0.5)).sigma)  # too small
    assert image_noise(np.ones((64, 64))).as_dict() == {"sigma": None, "sigma_per_channel": [None]}  # all clipped
    rgb = np.random.default_rng(0).random((64, 64, 3))
    rgb[:, :, 2] = 0.0  # one channel black: the overall value comes from the others
    est = image_noise(rgb)
    assert np.isnan(est.sigma_per_channel[2]) and abs(est.sigma - est.sigma_per_channel[0]) < 1


@pytest.mark.parametrize("snr", [0, 10, 20])
def test_speech_snr_within_3_db(snr: float) -> None:
    sr = 16000
    speech = speechlike(8.0, sr)
    noise = np.random.default_rng(3).standard_normal(speech.shape)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (snr / 10))
    est = audio_noise(speech + noise, sr)
    assert abs(est.snr_db - snr) <= 3.0, est
    floor = 10 * np.log10(np.mean(noise**2))
    assert abs(est.noise_floor_dbfs - floor) <= 3.0, (est, floor)


def test_snr_does_not_depend_on_level_or_dc_offset() -> None:
    sr = 16000
    x = speechlike(4.0, sr) + 0.01 * np.random.default_rng(0).standard_normal(4 * sr)
    a, b = audio_noise(x, sr), audio_noise(0.01 * x + 0.2, sr)
    assert abs(a.snr_db - b.snr_db) < 0.01
    assert abs((a.noise_floor_dbfs - 40) - b.noise_floor_dbfs) < 0.01


def test_silent_or_too_short_audio_is_refused() -> None:
    with pytest.raises(ValueError, match="silent"):
        audio_noise(np.zeros(16000), 16000)
    with pytest.raises(ValueError, match="too short"):
        audio_noise(np.ones(100), 16000)


def test_long_files_are_estimated_from_excerpts() -> None:
    assert audio_excerpts(1000, 100) == [(0, 1000)]
    spans = audio_excerpts(3600 * 100, 100)
    assert len(spans) == 30 and spans[0][0] == 0 and spans[-1][1] == 3600 * 100
    assert all(b - a == 1000 for a, b in spans)


def test_files(tmp_path) -> None:
    import soundfile as sf
    from tests.conftest import write_image

    img = write_image(tmp_path / "a.png", np.clip(np.round(_picture() * 255
                                                           + np.random.default_rng(0).normal(0, 25, (192, 256, 1))),
                                                  0, 255).astype(np.uint8)[:, :, 0])
    assert abs(estimate_file(img)["sigma"] - 25) < 3.75
    sf.write(tmp_path / "s.wav", np.zeros(16000), 16000)
    with pytest.raises(io.InputError, match="silent"):
        estimate_file(tmp_path / "s.wav")


# ------------------------------------------------------------------------- third reliability pass
def _dbfs(x) -> float:
    import numpy as np

    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2)))


def test_mains_hum_reads_at_its_own_level_under_speech():
    """A steady tone has the same power in every frame: the correction for random noise made a hum at
    -33.5 dBFS read as a floor of -23.9 dBFS, above the speech."""
    import numpy as np

    sr = 16000
    t = np.arange(6 * sr) / sr
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3))
    hum *= 10 ** (-33.5 / 20) / np.sqrt(np.mean(hum**2))
    speech = speechlike(6.0, sr) * 4  # about -8 dB over the hum
    est = audio_noise(speech + hum, sr)
    assert abs(est.noise_floor_dbfs - _dbfs(hum)) < 3.0, est
    assert est.snr_db is not None and est.snr_db > 0


def test_no_noise_is_not_measurable_rather_than_a_made_up_figure():
    import numpy as np

    sr = 16000
    x = np.zeros(3 * sr)
    x[sr : 2 * sr] = speechlike(1.0, sr)  # speech between digital silence: the floor is the silence
    est = audio_noise(x, sr)
    assert est.noise_floor_dbfs is None and est.snr_db is None and "digital silence" in est.unmeasurable


def test_a_noisy_channel_beside_a_silent_one_is_not_read_as_clean():
    import numpy as np

    sr = 16000
    noise = np.random.default_rng(0).standard_normal(4 * sr) * 10 ** (-40 / 20)
    left = speechlike(4.0, sr) + noise
    est = audio_noise(np.stack([left, np.zeros_like(left)]), sr)
    assert abs(est.noise_floor_dbfs - (-40)) < 2.0, est


def _jpeg(tmp_path, pixels: np.ndarray, quality: int):
    from PIL import Image

    path = tmp_path / f"q{quality}.jpg"
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def test_noise_a_jpeg_erased_from_flat_areas_is_not_measurable_rather_than_read_low(tmp_path):
    """σ 3 on a smooth picture: a PNG reads about 3; a JPEG of quality 90 zeroes most of it in the flat
    areas the estimate uses (it read 0.6 there), so it says it cannot tell, and below what; at quality 95
    σ 8 survives and is read as it is."""
    from tests.conftest import run

    clean = smooth_image(384, 384, 1)[:, :, 0] * 255
    rng = np.random.default_rng(3)
    weak = np.clip(np.round(clean + rng.normal(0, 3, clean.shape)), 0, 255).astype(np.uint8)
    from PIL import Image

    png = tmp_path / "weak.png"
    Image.fromarray(weak).save(png)
    assert abs(estimate_file(png)["sigma"] - 3) < 0.5
    est = estimate_file(_jpeg(tmp_path, weak, 90))
    assert est["sigma"] is None and est["sigma_per_channel"] == [None]
    assert "below about σ 5.5" in est["unmeasurable"] and "JPEG" in est["unmeasurable"]
    strong = np.clip(np.round(clean + rng.normal(0, 8, clean.shape)), 0, 255).astype(np.uint8)
    assert abs(estimate_file(_jpeg(tmp_path, strong, 95))["sigma"] - 8) < 1.2
    out = run("estimate", str(tmp_path / "q90.jpg"))
    assert out.exit_code == 0 and "sigma not measurable (below about σ 5.5" in out.output
