"""Training and validation data: clean examples corrupted on the fly.

Batches are a pure function of (seed, rank, step): each step draws from its own ``torch.Generator``.
This makes a resumed run see exactly the batches the interrupted one would have, lets DataLoader workers
split steps between them without coordination, and gives every torchrun rank different data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from denoise import io
from denoise.config import MIN_PATCH_SIZE, CorruptionConfig
from denoise.dsp import resample
from denoise.training.noise import AudioCorruption, ImageCorruption
from denoise.training.photo_noise import LUMA
from denoise.training.photo_noise import camera as camera_noise

log = logging.getLogger(__name__)


class DataError(Exception):
    """Training data cannot be used; the message says why."""


def list_files(dirs: Sequence[str | Path], exts: frozenset[str]) -> list[Path]:
    """:func:`denoise.io.list_files` (the one discovery rule), with a missing folder as a DataError."""
    try:
        return io.list_files(dirs, exts)
    except io.InputError as exc:
        raise DataError(str(exc).replace("no such file or directory", "no such data directory")) from None


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + rank * 7_919 + step) % (2**63 - 1))
    return g


# ------------------------------------------------------------------------------------------------ images
def load_images(dirs: Sequence[str | Path], channels: Optional[int], min_size: int = 1) -> tuple[list[np.ndarray], int]:
    """Loads every image under ``dirs`` as float32 (C, H, W). ``channels`` None picks 3 if any image is in
    colour, else 1. Images smaller than ``min_size`` on a side are skipped with a warning."""
    files = list_files(dirs, io.IMAGE_EXTS)
    if not files:
        raise DataError(f"no images found in {', '.join(map(str, dirs))}")
    decoded = []
    for f in files:
        try:
            decoded.append((f, io.read_image(f)))
        except io.InputError as exc:
            log.warning("skipping %s: %s", f, exc)
    if channels is None:
        channels = 3 if any(d.pixels.shape[2] == 3 for _, d in decoded) else 1
    images, small, largest_small = [], 0, 0
    for f, d in decoded:
        px = np.clip(d.pixels, 0.0, 1.0)
        if px.shape[0] < min_size or px.shape[1] < min_size:
            small += 1
            largest_small = max(largest_small, min(px.shape[0], px.shape[1]))
            continue
        if channels == 1 and px.shape[2] == 3:
            px = (px @ np.array(LUMA, np.float32))[:, :, None]
        elif channels == 3 and px.shape[2] == 1:
            px = np.repeat(px, 3, axis=2)
        images.append(np.ascontiguousarray(px.transpose(2, 0, 1)))
    if small:
        log.warning("skipped %d image(s) smaller than the %d-pixel patch size", small, min_size)
    if not images:
        hint = (f"; the largest has a {largest_small}-pixel short side, so a patch size of at most "
                f"{largest_small} (patch_size) would use it") if largest_small >= MIN_PATCH_SIZE else ""
        raise DataError(f"no usable images (need at least {min_size}x{min_size} pixels){hint}")
    return images, channels


def load_pairs(folder: str | Path, channels: int, min_size: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real (noisy, clean) image pairs, float32 (C, H, W): ``folder/noisy/X`` with ``folder/clean/X`` of the
    same relative name and size. Pairs that do not match are skipped with a warning."""
    root = Path(folder)
    noisy_files = list_files([root / "noisy"], io.IMAGE_EXTS) if (root / "noisy").is_dir() else []
    pairs = []
    for f in noisy_files:
        mate = root / "clean" / f.relative_to(root / "noisy")
        try:
            noisy, clean = load_images([f], channels)[0][0], load_images([mate], channels)[0][0]
        except DataError as exc:
            log.warning("skipping the pair %s: %s", f, exc)
            continue
        if noisy.shape != clean.shape or min(noisy.shape[1:]) < min_size:
            log.warning("skipping the pair %s: sizes %s and %s, or smaller than the patch", f, noisy.shape,
                        clean.shape)
            continue
        pairs.append((noisy, clean))
    if not pairs:
        raise DataError(f"no usable noisy/clean pairs in {root} (expected {root}/noisy/X and {root}/clean/X)")
    return pairs


class ImagePatches(IterableDataset):
    """Yields (noisy, clean) batches of (batch, C, patch, patch) random crops, flipped and rotated. With
    ``corruption`` None the images are already noisy (self-supervised training) and both are the crop.
    With ``pairs`` (real noisy and clean images), a fraction ``pairs_fraction`` of the patches are the same
    crop of a pair instead: real noise, where the others get synthetic corruption."""

    def __init__(self, images: list[np.ndarray], patch: int, batch_size: int,
                 corruption: Optional[CorruptionConfig],
                 seed: int, rank: int = 0, start_step: int = 0,
                 pairs: Optional[list[tuple[np.ndarray, np.ndarray]]] = None, pairs_fraction: float = 0.5) -> None:
        self.images = [torch.from_numpy(im) for im in images]
        self.patch, self.batch_size = patch, batch_size
        self.corrupt = ImageCorruption(corruption) if corruption is not None else None
        self.seed, self.rank, self.start_step = seed, rank, start_step
        self.pairs = [(torch.from_numpy(n), torch.from_numpy(c)) for n, c in pairs or []]
        self.pairs_fraction = pairs_fraction

    def steps_per_epoch(self) -> int:
        pixels = sum(im.shape[1] * im.shape[2] for im in self.images)
        return max(1, pixels // (self.patch**2 * self.batch_size))

    def _crop(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> list[torch.Tensor]:
        """The same random crop, rotation and flip of each of ``images`` (one image, or a pair)."""
        p = self.patch
        y = int(torch.randint(images[0].shape[1] - p + 1, (), generator=g))
        x = int(torch.randint(images[0].shape[2] - p + 1, (), generator=g))
        k = int(torch.randint(8, (), generator=g))
        out = []
        for im in images:
            c = torch.rot90(im[:, y : y + p, x : x + p], k % 4, dims=(1, 2))
            out.append(c.flip(2) if k >= 4 else c)
        return out

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = step_generator(self.seed, self.rank, step)
        crops, real = [], {}
        for i in range(self.batch_size):
            if self.pairs and float(torch.rand((), generator=g)) < self.pairs_fraction:
                real[i], clean = self._crop(self.pairs[int(torch.randint(len(self.pairs), (), generator=g))], g)
                crops.append(clean)
                continue
            crops.append(self._crop((self.images[int(torch.randint(len(self.images), (), generator=g))],), g)[0])
        clean = torch.stack(crops)
        noisy = self.corrupt(clean, g) if self.corrupt is not None else clean
        for i, crop in real.items():
            noisy[i] = crop
        return noisy, clean

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        step = self.start_step + wid
        while True:
            yield self.batch(step)
            step += nw


def is_pairs_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds real pairs as :func:`load_pairs` reads them (``noisy/`` beside ``clean/``)."""
    return (Path(folder) / "noisy").is_dir() and (Path(folder) / "clean").is_dir()


def centre_crop(t: torch.Tensor, crop: int) -> torch.Tensor:
    """(C, H, W) -> (1, C, h, w): the centre ``crop`` x ``crop`` (or less, for a smaller picture)."""
    h, w = t.shape[1:]
    ch, cw = min(crop, h), min(crop, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return t[None, :, y0 : y0 + ch, x0 : x0 + cw]


def pairs_val_set(pairs: list[tuple[np.ndarray, np.ndarray]], limit: int = 16, crop: int = 256
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation pairs from real (noisy, clean) pictures: the centre crop of each of the first
    ``limit``, so that a model's best checkpoint is chosen on the noise it is meant for."""
    return [(centre_crop(torch.from_numpy(n), crop), centre_crop(torch.from_numpy(c), crop)) for n, c in pairs[:limit]]


def image_val_set(images: list[np.ndarray], sigma: float = 25.0, limit: int = 16, crop: int = 256,
                  seed: int = 1234, camera: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation pairs: centre crops with Gaussian noise of ``sigma`` (0-255 scale), seeded; with
    ``camera``, every other pair gets camera noise (:func:`denoise.training.noise.camera`) instead, so that a
    photo model's best checkpoint is chosen on both kinds of noise."""
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for i, im in enumerate(images[:limit]):
        clean = centre_crop(torch.from_numpy(im), crop)
        if camera and i % 2:
            noisy = camera_noise(clean, g)
        else:
            noisy = clean + sigma / 255.0 * torch.randn(clean.shape, generator=g)
        pairs.append((noisy, clean))
    return pairs


# ------------------------------------------------------------------------------------------------- audio
def load_audio_dir(dirs: Sequence[str | Path], sample_rate: int, what: str) -> list[np.ndarray]:
    """Every audio file under ``dirs`` as mono float32 at ``sample_rate``."""
    return read_audio_dir(dirs, sample_rate, what)[0]


def read_audio_dir(dirs: Sequence[str | Path], sample_rate: int, what: str) -> tuple[list[np.ndarray], list[float]]:
    """Every audio file under ``dirs`` as mono float32 at ``sample_rate``, and the band each one holds (Hz:
    half its own rate, at most half ``sample_rate``): a file recorded at 16 kHz holds nothing above 8 kHz."""
    files = list_files(dirs, io.AUDIO_EXTS)
    if not files:
        raise DataError(f"no {what} audio files found in {', '.join(map(str, dirs))}")
    out, bands = [], []
    for f in files:
        try:
            audio, sr = io.read_audio(f)
        except io.InputError as exc:
            log.warning("skipping %s: %s", f, exc)
            continue
        mono = np.nan_to_num(audio.mean(axis=0))
        out.append(resample(mono, sr, sample_rate).astype(np.float32))
        bands.append(min(sr, sample_rate) / 2)
    if not out:
        raise DataError(f"no readable {what} audio in {', '.join(map(str, dirs))}")
    return out, bands


def _active(x: np.ndarray, threshold_db: float = -60.0) -> bool:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) > 10 ** (threshold_db / 20)


class SpeechMixtures(IterableDataset):
    """Yields (noisy, clean) batches of (batch, samples) waveforms: a random segment of clean speech mixed
    with recorded or synthetic noise (see :class:`~denoise.training.noise.AudioCorruption`). With ``corruption``
    None the recordings are already noisy (self-supervised training) and both are the segment. ``bands``:
    each speech file's band in Hz (``read_audio_dir``), for ``CorruptionConfig.p_match_band``."""

    def __init__(self, speech: list[np.ndarray], noise: Optional[list[np.ndarray]], segment: int,
                 batch_size: int, corruption: Optional[CorruptionConfig], sample_rate: int, seed: int, rank: int = 0,
                 start_step: int = 0, bands: Optional[list[float]] = None) -> None:
        active = [i for i, s in enumerate(speech) if _active(s)]
        self.speech = [speech[i] for i in active]
        self.bands = None if bands is None else torch.tensor([bands[i] for i in active], dtype=torch.float32)
        if not self.speech:
            raise DataError("all speech files are silent")
        self.noise = [n for n in (noise or []) if _active(n)] or None
        if noise is not None and self.noise is None:
            raise DataError("all noise files are silent")
        self.segment, self.batch_size = segment, batch_size
        self.corrupt = AudioCorruption(corruption, sample_rate) if corruption is not None else None
        self.seed, self.rank, self.start_step = seed, rank, start_step

    def steps_per_epoch(self) -> int:
        return max(1, sum(len(s) for s in self.speech) // (self.segment * self.batch_size))

    @staticmethod
    def _segment(pool: list[np.ndarray], n: int, g: torch.Generator, tries: int = 5) -> tuple[torch.Tensor, int]:
        """A random ``n``-sample segment of a random clip of ``pool`` (zero-padded if shorter), and the clip's index."""
        for _ in range(tries):  # prefer a segment with signal in it
            i = int(torch.randint(len(pool), (), generator=g))
            x = pool[i]
            if len(x) >= n:
                s = int(torch.randint(len(x) - n + 1, (), generator=g))
                seg = x[s : s + n]
            else:
                s = int(torch.randint(n - len(x) + 1, (), generator=g))
                seg = np.zeros(n, np.float32)
                seg[s : s + len(x)] = x
            if _active(seg):
                break
        return torch.from_numpy(np.ascontiguousarray(seg)), i

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = step_generator(self.seed, self.rank, step)
        segments, picked = zip(*(self._segment(self.speech, self.segment, g) for _ in range(self.batch_size)))
        clean = torch.stack(segments)
        if self.corrupt is None:
            return clean, clean
        rec = None
        if self.noise is not None:
            rec = torch.stack([self._segment(self.noise, self.segment, g)[0] for _ in range(self.batch_size)])
        bands = None if self.bands is None else self.bands[list(picked)]
        return self.corrupt(clean, rec, g, bands)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        step = self.start_step + wid
        while True:
            yield self.batch(step)
            step += nw


def audio_val_set(speech: list[np.ndarray], noise: Optional[list[np.ndarray]], sample_rate: int,
                  snr_db: Optional[float] = 5.0, limit: int = 16, seconds: float = 4.0,
                  seed: int = 1234) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation mixtures at ``snr_db``, seeded: recorded noise when given, else pink noise.
    ``snr_db`` None: the segments as they are (already noisy data), paired with themselves."""
    from denoise.training.noise import colored_noise, mix_at_snr

    g = torch.Generator().manual_seed(seed)
    n = int(seconds * sample_rate)
    active = [s for s in speech if _active(s)][:limit]
    noise_pool = [x for x in noise if _active(x)] if noise else []
    pairs = []
    for s in active:
        clean = SpeechMixtures._segment([s], min(n, len(s)), g)[0][None]
        if snr_db is None:
            pairs.append((clean, clean))
            continue
        if noise_pool:
            nz = SpeechMixtures._segment(noise_pool, clean.shape[1], g)[0][None]
        else:
            nz = colored_noise((1, clean.shape[1]), torch.ones(1), g)
        pairs.append((mix_at_snr(clean, nz, torch.tensor([snr_db])), clean))
    return pairs
