"""One picture as the model's batch items: aligned, overlapping tiles, adapted to the model's channels, and
their results blended back into the picture. ``arrays.denoise_image_array`` runs one picture's items;
``batching`` runs the items of many pictures in shared forward passes. Both give each item the same
computation and add the results up in the same order, so the pictures come out the same."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from denoise import io


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tile_layout(size: int, tile: int, overlap: int, mult: int = 1) -> tuple[int, list[int]]:
    """One side of a picture cut into tiles: (tile length, tile starts) for ``size`` pixels.

    As few tiles of at most ``tile`` pixels as cover ``size`` with at least ``overlap`` pixels between
    neighbours, each as short as that allows and spread evenly; lengths and starts are multiples of
    ``mult`` (``size``, ``tile`` and ``overlap`` must be too). Tiles of the full length with the last one
    flush with the edge would spend the difference on overlap: a 1024-pixel side took three tiles of 512
    (1.5 times its pixels), where three of 384 do (1.13 times)."""
    if size <= tile:
        return size, [0]
    n = _ceil_div(size - overlap, tile - overlap)
    length = _ceil_div(size + (n - 1) * overlap, n * mult) * mult  # n tiles of this could just do it ...
    while length - _ceil_div(size - length, (n - 1) * mult) * mult < overlap:  # ... unless the widest step
        length += mult  # (steps are whole multiples) leaves too little overlap; at `tile` it never does
    steps, extra = divmod((size - length) // mult, n - 1)
    starts = [0]
    for i in range(n - 1):
        starts.append(starts[-1] + (steps + (i < extra)) * mult)
    return length, starts


def ramp(n: int, overlap: int) -> np.ndarray:
    """Blend weight along one side of a tile: rises over ``overlap`` pixels at each end, never 0, so the
    weighted sum of overlapping tiles divided by the summed weights has no seams."""
    i = np.arange(n, dtype=np.float32)
    r = np.minimum((i + 1) / (overlap + 1), (n - i) / (overlap + 1))
    return np.clip(r, 1e-3, 1.0)


def as_hwc(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(H, W) or (H, W, C) -> float32 (H, W, C) and whether it was 2-D; refuses empty or non-finite input."""
    arr = np.asarray(image, dtype=np.float32)
    squeeze = arr.ndim == 2
    if squeeze:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got {np.shape(image)}")
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:  # checked here: the network would spread them over the whole tile and blame itself
        raise io.InputError(f"the image has {bad} NaN or Inf values")
    return arr, squeeze


class TiledImage:
    """An (H, W, C) picture cut for ``model``: ``items`` (N, model channels, th, tw) to run, in order;
    :meth:`add` takes the results of ``items[i:j]`` back in that order; :meth:`result` is the blended
    picture (H, W, C).

    The picture is padded to the network's size multiple, with tile size, overlap and every tile start
    aligned to it: a U-Net is only shift-equivariant for shifts that are multiples of its down-sampling,
    so misaligned tiles would each compute a slightly different result. A gray model runs each colour
    channel as its own item; a colour model gets a gray picture repeated three times and its output is
    averaged back."""

    def __init__(self, model: Any, arr: np.ndarray, tile: int, overlap: int) -> None:
        h, w, c = arr.shape
        mc = model.config.channels
        if not (mc == c or mc == 1 or (mc == 3 and c == 1)):
            raise ValueError(f"a {mc}-channel model cannot denoise a {c}-channel image")
        mult = model.size_multiple
        tile = max(mult, tile // mult * mult)
        overlap = _ceil_div(overlap, mult) * mult
        if overlap >= tile:
            raise ValueError("overlap must be smaller than tile")
        ph, pw = (-h) % mult, (-w) % mult
        self.source = arr
        if ph or pw:
            arr = np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="reflect" if ph < h and pw < w else "edge")
        self.h, self.w, self.c, self.mc = h, w, c, mc
        hp, wp = h + ph, w + pw
        (self.th, ys), (self.tw, xs) = tile_layout(hp, tile, overlap, mult), tile_layout(wp, tile, overlap, mult)
        self.weight = ramp(self.th, overlap)[:, None] * ramp(self.tw, overlap)[None, :] \
            if (len(ys) > 1 or len(xs) > 1) else np.ones((self.th, self.tw), np.float32)
        self.positions = [(y, x) for y in ys for x in xs]
        self.chw = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        # channels first, as the results come (no strided copies); a single tile needs no blending at all
        self.out = None if len(self.positions) == 1 else np.zeros((c, hp, wp), np.float32)
        self.norm = None if len(self.positions) == 1 else np.zeros((hp, wp), np.float32)
        self.done = 0  # tiles added so far

    @property
    def item_shape(self) -> tuple[int, int, int]:
        return self.mc, self.th, self.tw

    @property
    def tiles(self) -> int:
        return len(self.positions)

    def items(self, first: int, stop: int) -> torch.Tensor:
        """The model inputs of tiles ``first``..``stop - 1``: (n, mc, th, tw), or (n·c, 1, th, tw) for a gray
        model on c channels."""
        tiles = torch.stack([self.chw[:, y : y + self.th, x : x + self.tw] for y, x in self.positions[first:stop]])
        if self.mc == self.c:
            return tiles
        if self.mc == 1:
            return tiles.reshape(-1, 1, self.th, self.tw)
        return tiles.repeat(1, 3, 1, 1)

    def add(self, results: torch.Tensor) -> None:
        """The model outputs of the next tiles in order (shaped as :meth:`items`, float32 on the CPU)."""
        if self.mc != self.c:
            results = results.reshape(-1, self.c, self.th, self.tw) if self.mc == 1 else \
                results.mean(dim=1, keepdim=True)
        if self.out is None:  # the single tile is the picture (its weight is 1 everywhere)
            self.single, self.done = results.numpy()[0], 1
            return
        for t in results.numpy():
            y, x = self.positions[self.done]
            self.out[:, y : y + self.th, x : x + self.tw] += t * self.weight
            self.norm[y : y + self.th, x : x + self.tw] += self.weight
            self.done += 1

    def result(self) -> np.ndarray:
        """The blended picture, (H, W, C) float32 (call once every tile is added)."""
        if self.out is None:
            return self.single[:, : self.h, : self.w].transpose(1, 2, 0)
        return (self.out[:, : self.h, : self.w] / self.norm[: self.h, : self.w]).transpose(1, 2, 0)
