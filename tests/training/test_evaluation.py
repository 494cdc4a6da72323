"""denoise.training.evaluation: files that cannot be scored are skipped and named, never averaged in."""

import logging

import numpy as np
import soundfile as sf
from PIL import Image

from denoise import checkpoint
from denoise.training import evaluation
from tests.conftest import smooth_image, speechlike


def test_silent_and_too_short_speech_is_skipped_not_scored(audio_ckpt, tmp_path, caplog):
    speech, noise = tmp_path / "speech", tmp_path / "noise"
    speech.mkdir(), noise.mkdir()
    sf.write(speech / "a.wav", speechlike(2.0, 16000), 16000)
    sf.write(speech / "b_silent.wav", np.zeros(32000, np.float32), 16000)
    sf.write(speech / "c_short.wav", speechlike(0.5, 16000), 16000)
    sf.write(noise / "n.wav", 0.05 * np.random.default_rng(0).standard_normal(32000).astype(np.float32), 16000)
    model = checkpoint.load(str(audio_ckpt), domain="audio")
    with caplog.at_level(logging.WARNING):
        (row,) = evaluation.eval_audio(model, speech, noise, [5.0])
    alone = speech / "alone"
    alone.mkdir()
    (speech / "a.wav").rename(alone / "a.wav")
    (expected,) = evaluation.eval_audio(model, alone, noise, [5.0])
    assert row["files"] == 1
    assert row["out_si_sdr"] == expected["out_si_sdr"]  # the silent file did not drag the mean down
    assert "b_silent.wav: silent" in caplog.text and "c_short.wav: 0.50 s long" in caplog.text


def test_an_unreadable_image_is_skipped_and_named(gray_ckpt, tmp_path, caplog):
    Image.fromarray((smooth_image(32, 32, 1)[:, :, 0] * 255).astype(np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    model = checkpoint.load(str(gray_ckpt), domain="image")
    with caplog.at_level(logging.WARNING):
        (row,) = evaluation.eval_images(model, tmp_path, [25.0])
    assert row["files"] == 1
    assert f"skipped {tmp_path / 'b.png'}: not a readable image" in caplog.text
