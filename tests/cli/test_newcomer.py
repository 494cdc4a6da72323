"""The first hour of a new user: messages that point to the right option, tables that fit a terminal."""

import pytest

from tests.conftest import run, write_image


@pytest.mark.parametrize("args, says", [
    (["audio", "x.wav", "--compare"], "--spectrogram writes"),
    (["image", "x.png", "--spectrogram"], "--compare writes"),
    (["eval", "--domain", "image", "--data", "d", "--sigma", "25", "--snr", "5"], "--snr is for audio eval"),
    (["eval", "--domain", "audio", "--speech", "s", "--noise", "n", "--snr", "5", "--sigma", "25"],
     "--sigma is for image eval"),
])
def test_an_option_of_the_other_domain_points_to_the_right_one(args, says):
    r = run(*args)
    assert r.exit_code == 2 and says in r.output and "Did you mean" not in r.output, r.output


def test_score_names_a_file_of_the_other_domain(tmp_path, audio_ckpt):
    import numpy as np

    write_image(tmp_path / "photo.png", np.zeros((8, 8), np.uint8))
    r = run("score", "--domain", "audio", str(tmp_path / "photo.png"), "--model", str(audio_ckpt))
    assert "an image file: use --domain image" in r.output and "Format not recognised" not in r.output


def test_the_models_table_fits_a_terminal_and_shows_no_internal_paths():
    r = run("models")
    assert r.exit_code == 0
    assert max(len(line) for line in r.output.splitlines()) <= 130
    assert "speech/train" not in r.output and "cbsd432" not in r.output


def test_the_models_table_reads_left_to_right_with_words_left_aligned():
    lines = run("models").output.splitlines()
    made_for = lines[0].index("made for")
    assert all(line[made_for - 2:made_for] == "  " and line[made_for] != " " for line in lines[1:])
    assert all(line == line.rstrip() for line in lines)


def test_models_archs_names_the_shipped_models_of_each_architecture():
    out = run("models", "--archs").output
    dae = next(line for line in out.splitlines() if line.startswith("dae:"))
    crn = next(line for line in out.splitlines() if line.startswith("crn:"))
    assert "audio-speech-unet" in dae and "image-photo" in dae and "audio-speech" in crn
    assert "the shipped models are dae" not in out


@pytest.mark.parametrize("command", ["image", "audio", "train", "average", "eval", "score", "estimate", "export",
                                     "live", "models"])
def test_help_texts_cite_no_repository_paths(command):
    out = run(command, "--help").output
    assert not any(p in out for p in ("benchmarks/", "examples/", "scripts/", "checkpoints/README")), out
