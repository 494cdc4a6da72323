"""Tiles of many pictures in shared forward passes: the same pictures as one at a time, failures kept to
their own picture, memory retries, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from denoise import checkpoint
from denoise.image.batching import ImageBatcher
from denoise.image.arrays import denoise_image_array
from tests.conftest import smooth_image


class Wrapped(nn.Module):
    """A model that raises ``error`` for batches ``bad`` picks, else runs ``inner``; counts batch sizes."""

    def __init__(self, inner: nn.Module, bad=lambda x: False, error: Exception = RuntimeError("broken")) -> None:
        super().__init__()
        self.inner, self.bad, self.error, self.batches = inner, bad, error, []
        self.config, self.domain = inner.config, inner.domain

    @property
    def size_multiple(self) -> int:
        return self.inner.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(x))
        if self.bad(x):
            raise self.error
        return self.inner(x)


def pictures(sizes, channels=1):
    rng = np.random.default_rng(0)
    return [np.clip(smooth_image(h, w, channels, seed=i) + rng.normal(0, 0.1, (h, w, channels)), 0, 1).astype(np.float32)
            for i, (h, w) in enumerate(sizes)]


def run_all(batcher, model, pics):
    found = {}
    for i, p in enumerate(pics):
        batcher.add(i, model, p)
        found.update(batcher.ready())
    found.update(batcher.flush())
    return found


@pytest.fixture()
def gray(gray_ckpt):
    return checkpoint.load(str(gray_ckpt), "image")


def test_one_tile_a_pass_gives_the_very_same_bits(gray):
    pics = pictures([(40, 40), (40, 40), (33, 70), (150, 90)])
    found = run_all(ImageBatcher(1, tile=64, overlap=16), gray, pics)
    for i, p in enumerate(pics):
        np.testing.assert_array_equal(found[i], denoise_image_array(gray, p, tile=64, overlap=16, batch_size=1))


def test_pictures_of_one_size_share_passes(gray):
    model = Wrapped(gray)
    pics = pictures([(32, 32)] * 10 + [(24, 48)] * 3)
    found = run_all(ImageBatcher(4, max_pending=20), model, pics)
    assert sorted(found) == list(range(13))
    assert model.batches[:2] == [4, 4] and max(model.batches) == 4  # tiles of different files together
    for i, p in enumerate(pics):
        assert np.abs(found[i] - denoise_image_array(gray, p)).max() < 1e-5  # CPU kernels round per batch size


def test_a_picture_that_breaks_the_model_fails_alone(gray):
    model = Wrapped(gray, bad=lambda x: bool((x.mean(dim=(1, 2, 3)) > 0.9).any()))
    pics = pictures([(32, 32)] * 4)
    pics[2] = np.full((32, 32, 1), 0.95, np.float32)
    found = run_all(ImageBatcher(4), model, pics)
    assert isinstance(found[2], RuntimeError)
    assert all(isinstance(found[i], np.ndarray) for i in (0, 1, 3))


def test_a_tile_out_of_memory_is_redone_with_smaller_tiles(gray):
    oom = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    model = Wrapped(gray, bad=lambda x: x.shape[-1] > 32, error=oom)
    pic = pictures([(60, 60)])[0]
    done = []
    found = run_all(ImageBatcher(2, tile=64, overlap=8, progress=done.append), model, [pic])
    assert found[0].shape == (60, 60, 1) and np.isfinite(found[0]).all()
    assert abs(sum(done) - 60 * 60 / 1e6) < 1e-9  # progress adds up to the picture once


def test_gray_stored_as_rgb_is_repeated_and_progress_adds_up(gray):
    pics = pictures([(40, 50), (40, 50), (130, 20)])
    done = []
    batcher = ImageBatcher(3, tile=64, overlap=16, progress=done.append)
    batcher.add("a", gray, pics[0], repeat3=True)
    batcher.add("b", gray, pics[1])
    batcher.add("c", gray, pics[2])
    found = dict(batcher.flush())
    assert found["a"].shape == (40, 50, 3) and np.array_equal(found["a"][:, :, 0], found["a"][:, :, 2])
    assert abs(sum(done) - sum(p.shape[0] * p.shape[1] for p in pics) / 1e6) < 1e-9


class Identity(nn.Module):
    """Returns its input: the pipeline around the model must then give back the very pixels it read."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        from denoise.config import ModelConfig

        self.anchor = nn.Parameter(torch.zeros(1))
        self.config, self.domain, self.size_multiple = ModelConfig(arch="dae", domain="image", channels=channels), "image", 1

    def forward(self, x):
        return x


@pytest.mark.parametrize("batch", [1, 5])
def test_a_folder_through_an_identity_model_comes_back_unchanged(tmp_path, batch):
    from PIL import Image

    from denoise import io
    from denoise.runner.files import denoise_paths
    from tests.conftest import write_image

    rng = np.random.default_rng(0)
    jobs = []
    for i, (h, w) in enumerate([(30, 30), (30, 30), (700, 600), (30, 30), (45, 20), (600, 520)]):
        src = write_image(tmp_path / "in" / f"{i}.png", (rng.random((h, w, 3)) * 255).astype(np.uint8))
        jobs.append(io.Job(src, tmp_path / "out" / f"{i}.png"))
    models = {c: Identity(c) for c in (1, 3)}
    results = list(denoise_paths(lambda c: models[c], jobs, batch_size=batch, workers=3))
    assert sorted(r.src.name for r in results if r.status == "done") == sorted(j.src.name for j in jobs)
    for job in jobs:
        assert np.array_equal(np.asarray(Image.open(job.src)), np.asarray(Image.open(job.dst)))
