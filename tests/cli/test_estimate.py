"""`denoise estimate`: numbers for good files, one line per bad one, and the batch goes on."""

from __future__ import annotations

import csv
import io as stdio
import json

import numpy as np
import soundfile as sf

from tests.conftest import run, smooth_image, speechlike, write_image


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    noisy = np.clip(smooth_image(96, 96, 3) * 200 + 20 + rng.normal(0, 20, (96, 96, 3)), 0, 255)
    write_image(tmp_path / "photo.png", noisy.astype(np.uint8))
    x = speechlike(3.0, 16000)
    sf.write(tmp_path / "talk.wav", x + 0.1 * np.sqrt(np.mean(x**2)) * rng.standard_normal(x.shape), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000), 16000)
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8 not really")
    return tmp_path


def test_good_files_are_estimated_and_bad_ones_named(tmp_path):
    r = run("estimate", _folder(tmp_path), "--json")
    assert r.exit_code == 1 and "Traceback" not in r.output
    body, errors = r.output[: r.output.rindex("]") + 1], r.output[r.output.rindex("]") + 1 :].strip().splitlines()
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in json.loads(body)}
    assert abs(rows["photo.png"]["sigma"] - 20) < 3 and len(rows["photo.png"]["sigma_per_channel"]) == 3
    assert abs(rows["talk.wav"]["snr_db"] - 20) < 3
    assert rows["silent.wav"]["error"] == "silent: no noise to estimate"
    assert rows["empty.flac"]["error"].startswith("cannot read audio")
    assert rows["garbage.jpg"]["error"] and rows["garbage.jpg"]["sigma"] is None
    assert len(errors) == 3 and all(line.startswith("failed: ") for line in errors)


def test_csv_and_plain_output(tmp_path):
    folder = _folder(tmp_path)
    r = run("estimate", folder / "photo.png", folder / "talk.wav", "--csv")
    rows = list(csv.DictReader(stdio.StringIO(r.output)))
    assert r.exit_code == 0 and [row["domain"] for row in rows] == ["image", "audio"]
    assert len(rows[0]["sigma_per_channel"].split()) == 3 and float(rows[1]["noise_floor_dbfs"]) < -20
    r = run("estimate", folder / "photo.png", folder / "talk.wav")
    assert r.exit_code == 0 and r.output.startswith("sigma ") and "SNR" in r.output
    assert run("estimate", folder, "--json", "--csv").exit_code == 2
    assert run("estimate", tmp_path / "missing.png").exit_code == 1
