"""Shared fixtures: tiny models saved as real checkpoints, and generated images and audio.

Nothing here needs the network, a GPU or the project's training data: every file is generated in a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent  # the checkout: its examples/, denoise/ and pyproject.toml

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _logging_as_found():
    """Each test starts with the logging set-up it found: a CLI test's -q (the "denoise" logger at ERROR) or
    its stderr handler would otherwise hide later tests' warnings from caplog."""
    import logging

    root, ours = logging.getLogger(), logging.getLogger("denoise")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    yield
    root.handlers[:], root.level = handlers, root_level
    ours.setLevel(our_level)


def _save(path: Path, domain: str, channels: int, output: str, arch: str = "dae") -> Path:
    from denoise.checkpoint import save_checkpoint
    from denoise.config import ModelConfig, STFTConfig
    from denoise.models import build_model

    torch.manual_seed(0)
    if domain == "image":
        cfg = ModelConfig(arch="dae", domain="image", channels=channels, args={"width": 4, "depth": 2, "blocks": 1},
                          output=output)
    else:
        args = {"width": 8, "depth": 3, "hidden": 16} if arch == "crn" else {"width": 4, "depth": 2, "blocks": 1}
        cfg = ModelConfig(arch=arch, domain="audio", channels=1, args=args, output="mask", sample_rate=16000,
                          stft=STFTConfig())
    model = build_model(cfg)
    save_checkpoint(path, model, {"model": cfg.to_dict(), "domain": domain})
    return path


def random_taps(model, scale: float = 0.3):
    """Gives a crn's deep-filter layer (zero at the start) random weights, so that its taps are not all zero."""
    torch.manual_seed(5)
    with torch.no_grad():
        for p in model.net.df.parameters():
            p.normal_(0, scale)
    return model


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def gray_ckpt(models_dir: Path) -> Path:
    return _save(models_dir / "gray.pt", "image", 1, "residual")


@pytest.fixture(scope="session")
def color_ckpt(models_dir: Path) -> Path:
    return _save(models_dir / "color.pt", "image", 3, "residual")


@pytest.fixture(scope="session")
def audio_ckpt(models_dir: Path) -> Path:
    return _save(models_dir / "audio.pt", "audio", 1, "mask")


@pytest.fixture(scope="session")
def causal_audio_ckpt(models_dir: Path) -> Path:
    """A small untrained causal audio model (crn), for frame-by-frame streaming."""
    return _save(models_dir / "audio-crn.pt", "audio", 1, "mask", arch="crn")


@pytest.fixture(scope="session")
def fullband():
    """The shipped full-band speech model (audio-speech-fullband), loaded once."""
    from denoise import checkpoint

    return checkpoint.load("audio-speech-fullband", domain="audio")


def smooth_image(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """A smooth synthetic picture in [0, 1] (sums of low-frequency sinusoids), (H, W, C)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w, c), np.float32)
    for ch in range(c):
        for _ in range(3):
            fy, fx, ph = rng.uniform(0.01, 0.08), rng.uniform(0.01, 0.08), rng.uniform(0, 6.28)
            out[:, :, ch] += np.sin(fy * y + fx * x + ph)
    out -= out.min()
    return out / max(out.max(), 1e-6)


def speechlike(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Harmonic tones with a syllable-rate envelope: speech-like structure a mask model can separate
    from broadband noise. (T,) float32 around -20 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    sig = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    x = sig * env
    return (0.1 * x / np.sqrt(np.mean(x**2) + 1e-12)).astype(np.float32)


def run(*args: object):
    """``denoise ARGS...`` in this process (click's test runner); exceptions are not caught, so a bug shows
    its traceback rather than an exit code."""
    from click.testing import CliRunner

    from denoise.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write_image(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    """Saves ``arr`` with Pillow (in ``mode`` when given), making the folders on the way."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    (Image.fromarray(arr, mode) if mode else Image.fromarray(arr)).save(path)
    return path


def gray_pngs(folder: Path, n: int = 2, size: int = 48, random: bool = False, names: str = "{}.png") -> Path:
    """``n`` gray 8-bit PNGs named ``names.format(i)`` (``0.png``, ``1.png``, ...) of ``size`` pixels a side
    in ``folder``: smooth pictures (seeds 0, 1, ...), or uniform random pixels."""
    rng = np.random.default_rng(0)
    for i in range(n):
        px = rng.random((size, size)) if random else smooth_image(size, size, 1, seed=i)[:, :, 0]
        write_image(folder / names.format(i), (px * 255).astype(np.uint8))
    return folder
