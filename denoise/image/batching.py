"""Many pictures in shared forward passes: the tiles of different files fill one batch.

A folder of small photos would otherwise run one picture (often one tile) per pass, which leaves a GPU
mostly idle. Tiles are batched only with tiles of the same shape and model (a picture under 512 pixels a
side is one tile of its own padded size, so equal sizes batch together; bucketing rather than padding
keeps every tile's computation exactly what it is alone). Each picture's tiles are handed out and
added back in order, as ``denoise_image_array`` does, so a picture's result does not depend on its
neighbours, up to the CPU kernels' batch-size-dependent rounding (about 5e-7): with the CPU default of
one tile a pass the bits are the same.

A batch that fails is run again picture by picture, so only the picture at fault fails; a single tile
that does not fit in memory sends its picture through ``denoise_image_array``, which retries with
smaller tiles.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from denoise.image.arrays import DEFAULT_OVERLAP, DEFAULT_TILE, denoise_image_array
from denoise.image.tiling import TiledImage, as_hwc
from denoise.inference import blend, check_strength, default_batch_size, denoise_tensor, denoise_tensor_x8

log = logging.getLogger(__name__)


@dataclass(eq=False)  # identity, not field-wise comparison: pictures are found in queues by `in`
class _Picture:
    key: Any
    model: nn.Module
    arr: np.ndarray  # (H, W, C) float32, the input (for strength)
    tiled: TiledImage
    repeat3: bool  # gray stored as RGB: denoised as gray, written as three equal channels
    handed: int = 0  # tiles put into batches so far


class ImageBatcher:
    """Feed pictures with :meth:`add`; :meth:`ready` runs full batches and yields (key, result) for every
    picture finished, where result is the (H, W, C) float32 picture or the exception that failed it;
    :meth:`flush` runs what is left. ``batch_size`` counts tiles (default: ``default_batch_size`` of the
    first model); ``max_pending`` pictures (default: twice that) are held at most: beyond that, partial
    batches run, so memory stays bounded."""

    def __init__(self, batch_size: Optional[int] = None, strength: float = 1.0, ensemble: bool = False, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP, progress: Optional[Callable[[float], None]] = None,
                 max_pending: Optional[int] = None) -> None:
        check_strength(strength)
        self.batch_size, self.strength, self.ensemble = batch_size, strength, ensemble
        self.tile, self.overlap, self.progress = tile, overlap, progress
        self.max_pending = max_pending
        self.queues: OrderedDict[tuple, deque[_Picture]] = OrderedDict()  # by (model, tile shape)
        self.pending: dict[int, _Picture] = {}

    def add(self, key: Any, model: nn.Module, pixels: np.ndarray, repeat3: bool = False) -> None:
        """Queues a picture (H, W[, C]) for ``model``; raises for input that cannot be denoised at all."""
        if self.batch_size is None:  # the default of the first model's device
            self.batch_size = default_batch_size(model)
        self.max_pending = self.max_pending or 2 * self.batch_size
        arr, _ = as_hwc(pixels)
        pic = _Picture(key, model, arr, TiledImage(model, arr, self.tile, self.overlap), repeat3)
        self.pending[id(pic)] = pic
        self.queues.setdefault((id(model), pic.tiled.item_shape), deque()).append(pic)

    def ready(self) -> Iterator[tuple[Any, Any]]:
        for bucket, queue in list(self.queues.items()):
            while sum(p.tiled.tiles - p.handed for p in queue) >= self.batch_size:
                yield from self._run(bucket)
        while len(self.pending) > self.max_pending:
            yield from self._run(next(b for b, q in self.queues.items() if q))

    def flush(self) -> Iterator[tuple[Any, Any]]:
        for bucket, queue in list(self.queues.items()):
            while queue:
                yield from self._run(bucket)

    def _take(self, bucket: tuple) -> list[tuple[_Picture, int, int]]:
        """Up to batch_size tiles from the front of a bucket: (picture, first tile, stop) parts, in order."""
        queue, parts, room = self.queues[bucket], [], self.batch_size
        while queue and room:
            pic = queue[0]
            n = min(room, pic.tiled.tiles - pic.handed)
            parts.append((pic, pic.handed, pic.handed + n))
            pic.handed += n
            room -= n
            if pic.handed == pic.tiled.tiles:
                queue.popleft()
        return parts

    def _run(self, bucket: tuple) -> Iterator[tuple[Any, Any]]:
        parts = self._take(bucket)
        if not parts:
            return
        run = denoise_tensor_x8 if self.ensemble else denoise_tensor
        model = parts[0][0].model
        try:
            inputs = [pic.tiled.items(a, b) for pic, a, b in parts]
            batch = inputs[0] if len(inputs) == 1 else torch.cat(inputs)
            outputs = run(model, batch).split([len(x) for x in inputs])
        except Exception:  # noqa: BLE001 -- tried again picture by picture below, to blame the right one
            if len(parts) == 1:
                yield from self._alone(*parts[0])
                return
            for part in parts:
                yield from self._run_part(run, *part)
            return
        for (pic, a, b), out in zip(parts, outputs):
            yield from self._added(pic, a, b, out)

    def _run_part(self, run: Callable, pic: _Picture, a: int, b: int) -> Iterator[tuple[Any, Any]]:
        try:
            out = run(pic.model, pic.tiled.items(a, b))
        except Exception:  # noqa: BLE001 -- this picture alone
            yield from self._alone(pic, a, b)
            return
        yield from self._added(pic, a, b, out)

    def _alone(self, pic: _Picture, a: int, b: int) -> Iterator[tuple[Any, Any]]:
        """A picture whose tiles failed: out of memory goes through denoise_image_array (smaller tiles),
        anything else fails the picture."""
        self._drop(pic)
        try:
            out = denoise_image_array(pic.model, pic.arr, self.strength, self.tile // 2, self.overlap, 1,
                                      self.ensemble)
        except Exception as exc:  # noqa: BLE001 -- reported as this file's failure
            yield pic.key, exc
            return
        log.info("denoised alone after a failed batch")
        if self.progress is not None:
            self.progress((1 - pic.tiled.done / pic.tiled.tiles) * pic.tiled.h * pic.tiled.w / 1e6)
        yield pic.key, self._finish(pic, out, blended=True)

    def _added(self, pic: _Picture, a: int, b: int, out: torch.Tensor) -> Iterator[tuple[Any, Any]]:
        pic.tiled.add(out)
        if self.progress is not None:
            self.progress((b - a) / pic.tiled.tiles * pic.tiled.h * pic.tiled.w / 1e6)
        if pic.tiled.done == pic.tiled.tiles:
            self._drop(pic)
            yield pic.key, self._finish(pic, pic.tiled.result())

    def _finish(self, pic: _Picture, out: np.ndarray, blended: bool = False) -> np.ndarray:
        out = out if blended else blend(out, pic.arr, self.strength)
        return np.repeat(out, 3, axis=2) if pic.repeat3 else out

    def _drop(self, pic: _Picture) -> None:
        self.pending.pop(id(pic), None)
        for queue in self.queues.values():
            if pic in queue:
                queue.remove(pic)

