"""Noise2Void-style training from noisy data alone, and anomaly scores."""

import csv
import io as pyio
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from denoise.io import read_image
from denoise.metrics import psnr
from denoise.training.noise import blind_spot
from tests.conftest import run, smooth_image, speechlike


def test_blind_spot_replaces_each_masked_value_by_another_nearby_position():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 9 * 11, dtype=torch.float32).view(2, 1, 9, 11)  # every value unique
    masked, mask = blind_spot(x, 0.3, g, radius=2)
    assert mask.dtype == torch.bool and 0.15 < mask.float().mean() < 0.45
    assert torch.equal(masked[~mask], x[~mask])
    for b, _, i, j in mask.nonzero().tolist():
        v = int(masked[b, 0, i, j])
        src_i, src_j = divmod(v - b * 99, 11)
        assert (src_i, src_j) != (i, j) and abs(src_i - i) <= 2 and abs(src_j - j) <= 2


def _noisy_set(root, n=6, size=64, sigma=25, seed=0):
    rng = np.random.default_rng(seed)
    clean = []
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = smooth_image(size, size, 1, seed=i)[:, :, 0]
        noisy = np.clip(np.round((c + rng.normal(0, sigma / 255, c.shape)) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"{i}.png")
        clean.append(c)
    return clean


@pytest.mark.slow
def test_self_supervised_image_training_learns_to_denoise_from_noisy_data_only(tmp_path):
    clean = _noisy_set(tmp_path / "noisy")
    r = run("train", "--domain", "image", "--data", tmp_path / "noisy", "--out", tmp_path / "run",
            "--self-supervised", "--blind-spot-fraction", "0.05", "--arch-args", '{"width": 8}',
            "--steps", "150", "--eval-every", "100", "--batch-size", "8", "--patch-size", "32", "--lr", "3e-3",
            "--workers", "0", "-q")
    assert r.exit_code == 0, r.output
    hist = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert all(h["val_blind_spot_loss"] is not None for h in hist)
    assert run("image", tmp_path / "noisy", "-o", tmp_path / "out", "--model", tmp_path / "run" / "best.pt").exit_code == 0
    before = np.mean([psnr(c, read_image(tmp_path / "noisy" / f"{i}.png").pixels[:, :, 0]) for i, c in enumerate(clean)])
    after = np.mean([psnr(c, read_image(tmp_path / "out" / f"{i}.png").pixels[:, :, 0]) for i, c in enumerate(clean)])
    assert after > before + 2.0, (before, after)


@pytest.mark.slow
def test_self_supervised_audio_trains_and_refuses_a_noise_dir(tmp_path):
    d = tmp_path / "rec"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        sf.write(d / f"{i}.wav", speechlike(1.0, 16000, i) + 0.02 * rng.standard_normal(16000).astype(np.float32), 16000)
    common = ["train", "--domain", "audio", "--data", d, "--out", tmp_path / "run", "--self-supervised",
              "--arch-args", '{"width": 4}', "--steps", "2", "--eval-every", "1", "--batch-size", "2",
              "--patch-size", "8000", "--workers", "0", "-q"]
    assert run(*common).exit_code == 0
    r = run(*common, "--noise-dir", d)
    assert r.exit_code == 2 and "leave out --noise-dir" in r.output  # a usage error, before the data are read


def test_score_ranks_most_unusual_first_in_every_format(tmp_path, gray_ckpt):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        Image.fromarray((smooth_image(24, 24, 1, seed=i)[:, :, 0] * 255).astype(np.uint8)).save(d / f"n{i}.png")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((24, 24)) * 255).astype(np.uint8)).save(d / "odd.png")
    (d / "broken.png").write_bytes(b"not a png")
    r = run("score", d, "--model", gray_ckpt, "--json")
    assert r.exit_code == 1  # the broken file fails, the others are still scored
    rows = json.loads(r.stdout)
    scored = [x for x in rows if x["score"] is not None]
    assert len(scored) == 4 and [x["rank"] for x in scored] == [1, 2, 3, 4]
    assert [x["score"] for x in scored] == sorted((x["score"] for x in scored), reverse=True)
    assert rows[-1]["path"].endswith("broken.png") and rows[-1]["error"]
    assert "failed:" in r.stderr and "broken.png" in r.stderr
    r = run("score", d / "n0.png", d / "odd.png", "--model", gray_ckpt, "--csv")
    assert r.exit_code == 0
    table = list(csv.DictReader(pyio.StringIO(r.stdout)))
    assert [row["rank"] for row in table] == ["1", "2"] and table[0]["unit"] == "mse_per_pixel"
    r = run("score", d / "n0.png", "--model", gray_ckpt)
    assert r.exit_code == 0 and r.stdout.split()[0] == "1"


def test_score_audio_is_level_independent(tmp_path, audio_ckpt):
    x = speechlike(1.0, 16000) + 0.01 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    sf.write(tmp_path / "loud.wav", x, 16000, subtype="FLOAT")
    sf.write(tmp_path / "quiet.wav", x * 0.01, 16000, subtype="FLOAT")
    r = run("score", tmp_path / "loud.wav", tmp_path / "quiet.wav", "--model", audio_ckpt, "--json")
    assert r.exit_code == 0, r.output
    a, b = (row["score"] for row in json.loads(r.stdout))
    assert a == pytest.approx(b, rel=1e-3)


def test_score_tells_the_domain_from_the_model_or_the_files_found(tmp_path):
    (tmp_path / "sounds").mkdir()
    sf.write(tmp_path / "sounds" / "a.wav", speechlike(0.5, 16000), 16000)
    r = run("score", tmp_path / "sounds", "--json")  # a directory: no extension to go by, audio inside
    assert r.exit_code == 0, r.output
    assert [row["unit"] for row in json.loads(r.stdout)] == ["residual_energy_ratio"]
    r = run("score", tmp_path / "sounds", "--model", "image-gray")  # a shipped name says image
    assert r.exit_code == 1 and "no bmp/gif/jpeg/jpg/png/tif/tiff/webp files found" in r.output
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "sounds" / "b.png")
    r = run("score", tmp_path / "sounds")
    assert r.exit_code == 2 and "both images and audio" in r.output and "--domain" in r.output
    r = run("score", tmp_path / "x.bin")
    assert r.exit_code == 1 and "no such file or directory: " in r.output
