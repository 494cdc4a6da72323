"""The Python API (denoise.api): what it accepts, what it refuses, and that it never changes alpha."""

import warnings

import numpy as np
import pytest

import denoise
from tests.conftest import smooth_image, speechlike


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_passes_through_untouched_for_gray_and_colour(gray_ckpt, color_ckpt, channels):
    rng = np.random.default_rng(0)
    img = (rng.random((24, 20, channels)) * 255).astype(np.uint8)
    model = str(gray_ckpt if channels == 2 else color_ckpt)
    out = denoise.denoise_image(img, model=model)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[:, :, -1], img[:, :, -1])
    alone = denoise.denoise_image(img[:, :, :-1], model=model)  # the colour part as if it had no alpha
    assert np.array_equal(out[:, :, :-1], alone)


def test_float_images_on_a_0_to_255_scale_are_refused(gray_ckpt):
    img = smooth_image(16, 16, 1)[:, :, 0] * 255
    with pytest.raises(ValueError, match="divide by 255, or pass uint8"):
        denoise.denoise_image(img, model=str(gray_ckpt))
    noisy = smooth_image(16, 16, 1)[:, :, 0] + 0.3  # a little over 1 is noise, and accepted
    assert denoise.denoise_image(noisy, model=str(gray_ckpt)).shape == noisy.shape


@pytest.mark.parametrize("bad, match", [(np.float32(0.5), "got a scalar"),
                                        (np.zeros((8, 8), np.complex64), "complex")])
def test_scalars_and_complex_arrays_get_a_clear_value_error(gray_ckpt, audio_ckpt, bad, match):
    with pytest.raises(ValueError, match=match):
        denoise.denoise_image(bad, model=str(gray_ckpt))
    with pytest.raises(ValueError, match=match):
        denoise.denoise_audio(bad if bad.ndim == 0 else bad[0], 16000, model=str(audio_ckpt))


def test_read_only_arrays_raise_no_third_party_warning(gray_ckpt, audio_ckpt):
    img = smooth_image(16, 16, 1)[:, :, 0]
    sound = speechlike(0.5, 16000)
    img.flags.writeable = False
    sound.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        denoise.denoise_image(img, model=str(gray_ckpt))
        denoise.denoise_audio(sound, 16000, model=str(audio_ckpt))


@pytest.mark.parametrize("shape", [(10,), (4, 4, 5), (2, 3, 4, 3), (0, 5)])
def test_arrays_that_are_not_pictures_get_a_value_error_naming_the_shape(gray_ckpt, shape):
    with pytest.raises(ValueError, match=r"image has shape"):
        denoise.denoise_image(np.zeros(shape, np.float32), model=str(gray_ckpt))
