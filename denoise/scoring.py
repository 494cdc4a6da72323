"""Anomaly scores: how badly an autoencoder reconstructs a file.

A model trained on normal data only reconstructs normal inputs well and unusual ones (defects, corrupted
recordings, content it never saw) badly, so the reconstruction error ranks files by how unusual they are.
The reconstruction is the model's output through the same tiled / streamed inference as ``denoise``, so
files of any size score with bounded memory.

- images: mean squared error per pixel value, on the [0, 1] scale;
- audio: residual energy per second divided by the input's energy per second (a ratio, so the score does
  not depend on the recording level or the duration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np
from torch import nn

from denoise import io
from denoise.audio import chunks
from denoise.image import arrays

UNITS = {"image": "mse_per_pixel", "audio": "residual_energy_ratio"}


@dataclass
class FileScore:
    path: Path
    score: Optional[float]  # None when the file failed
    error: Optional[str] = None


def score_image_array(model: nn.Module, pixels: np.ndarray, batch_size: Optional[int] = None) -> float:
    """(H, W) or (H, W, C) float in [0, 1] -> mean squared reconstruction error per pixel value."""
    arr = np.asarray(pixels, dtype=np.float32)
    recon = arrays.denoise_image_array(model, arr, batch_size=batch_size)
    return float(np.mean((recon.astype(np.float64) - arr) ** 2))


def score_audio_file(model: nn.Module, path: Path, batch_size: Optional[int] = None) -> float:
    """Streams ``path`` through the model and returns sum((x - recon)^2) / sum(x^2) over all channels;
    0 for digital silence (nothing to reconstruct)."""
    info = io.audio_info(path)
    residual = energy = 0.0
    position = 0
    with io.open_reader(path, info.frames) as read:

        def consume(block: np.ndarray) -> None:
            nonlocal residual, energy, position
            ref = read(position, position + block.shape[1]).astype(np.float64)
            residual += float(np.sum((ref - block) ** 2))
            energy += float(np.sum(ref**2))
            position += block.shape[1]

        if chunks.stream_audio(model, read, consume, info.frames, info.sample_rate, 1.0,
                                  chunks.DEFAULT_CHUNK_SECONDS, batch_size):
            raise io.InputError("audio contains NaN or Inf samples")
    return residual / energy if energy > 0 else 0.0


def score_files(model: nn.Module, files: Iterable[Path], batch_size: Optional[int] = None) -> Iterator[FileScore]:
    """Scores each file with ``model`` (its domain decides how files are read); a file that cannot be read
    gives a FileScore with ``error`` set instead of stopping the rest."""
    for path in files:
        try:
            if model.domain == "image":
                data = io.read_image(path)
                score = score_image_array(model, np.clip(data.pixels, 0.0, 1.0), batch_size)
            else:
                score = score_audio_file(model, path, batch_size)
            if not math.isfinite(score):
                raise io.InputError("reconstruction error is not finite")
            yield FileScore(path, score)
        except (io.InputError, ValueError, OSError) as exc:
            yield FileScore(path, None, str(exc) or type(exc).__name__)


def ranked(scores: Iterable[FileScore]) -> list[FileScore]:
    """Most unusual first; failed files last, in input order."""
    items = list(scores)
    good = sorted((s for s in items if s.score is not None), key=lambda s: -s.score)  # type: ignore[operator]
    return good + [s for s in items if s.score is None]
