"""Cutting a picture into tiles: every pixel covered, enough overlap to blend, as little work as that allows."""

from __future__ import annotations

import numpy as np
import pytest

from denoise import checkpoint
from denoise.image.tiling import TiledImage, tile_layout


@pytest.mark.parametrize("seed", range(3))
def test_tiles_cover_the_side_overlap_enough_and_stay_aligned(seed):
    rng = np.random.default_rng(seed)
    for _ in range(2000):
        mult = int(rng.choice([1, 2, 4, 8, 16]))
        tile = mult * int(rng.integers(1, 40))
        overlap = mult * int(rng.integers(0, tile // mult))
        size = mult * int(rng.integers(1, 300))
        length, starts = tile_layout(size, tile, overlap, mult)
        gaps = np.diff(starts)
        assert starts[0] == 0 and starts[-1] + length == size  # flush with both edges
        assert length <= tile and length % mult == 0 and all(s % mult == 0 for s in starts)
        assert all(gaps > 0) and all(length - gaps >= overlap)
        fewest = 1 if size <= tile else -(-(size - overlap) // (tile - overlap))
        assert len(starts) == fewest


def test_a_picture_a_little_larger_than_one_tile_is_not_cut_into_full_tiles(color_ckpt):
    """A 1024x1024 picture with 512-pixel tiles overlapping by 64 needs three tiles a side; three of 384
    pixels cover it, where full 512-pixel tiles with the last flush with the edge did 2.25 times its work."""
    model = checkpoint.load(str(color_ckpt))
    tiled = TiledImage(model, np.zeros((1024, 1024, 3), np.float32), tile=512, overlap=64)
    assert tiled.tiles == 9
    _, th, tw = tiled.item_shape
    assert th == tw == 384
    assert tiled.tiles * th * tw <= 1.3 * 1024 * 1024
