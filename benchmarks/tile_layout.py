"""How a picture is cut into tiles, and what that costs: even tiles against full tiles flush with the edge.

`denoise image` runs pictures over 512 pixels a side in tiles overlapping by 64 pixels
(`denoise.image.tiling.tile_layout`). "flush" is the rule before: full 512-pixel tiles every 448 pixels and
the last one flush with the far edge, which overlaps its neighbour by whatever is left; "even" cuts the
same number of tiles, each as short as a 64-pixel overlap allows. Per model and picture size: the pixels
the network runs (as a multiple of the picture's), the fastest of --repeat runs of
`denoise.image.arrays.denoise_image_array` per arm (the arms taking turns, in one process, the threads the
command sets), and the largest difference between the arms' outputs (tiles meet elsewhere; the network
sees other borders). The picture is random noise around a smooth gradient, so nothing depends on data.

    python benchmarks/tile_layout.py                    # about 10 minutes on 2 cores
    python benchmarks/tile_layout.py --models image-photo-naf --sizes 1024x1024
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_times, machine, parser, table  # noqa: E402

SIZES = ("1024x1024", "1920x1080", "2048x1536", "4032x3024")


def flush_layout(size: int, tile: int, overlap: int, mult: int = 1) -> tuple[int, list[int]]:
    """The rule before: full tiles every tile - overlap pixels, the last one flush with the far edge."""
    if size <= tile:
        return size, [0]
    return tile, list(range(0, size - tile, tile - overlap)) + [size - tile]


def picture(w: int, h: int):
    import numpy as np

    rng = np.random.default_rng(0)
    ramp = np.linspace(0.2, 0.8, w, dtype=np.float32)[None, :, None]
    return np.clip(ramp + rng.normal(0, 0.08, (h, w, 3)).astype(np.float32), 0, 1)


def arm(rule, fn):
    def run():
        from denoise.image import tiling

        with mock.patch.object(tiling, "tile_layout", rule):
            return fn()
    return run


def pixels_run(model, pic, rule) -> float:
    from denoise.image import tiling
    from denoise.image.arrays import DEFAULT_OVERLAP, DEFAULT_TILE

    with mock.patch.object(tiling, "tile_layout", rule):
        t = tiling.TiledImage(model, pic, DEFAULT_TILE, DEFAULT_OVERLAP)
    return t.tiles * t.th * t.tw / (pic.shape[0] * pic.shape[1])


def size_row(name: str, model, size: str, repeat: int) -> dict:
    import numpy as np

    from denoise.image import tiling
    from denoise.image.arrays import denoise_image_array

    w, h = (int(v) for v in size.split("x"))
    pic = picture(w, h)
    rules = {"flush": flush_layout, "even": tiling.tile_layout}
    runs = {k: arm(rule, lambda: denoise_image_array(model, pic)) for k, rule in rules.items()}
    out = {k: run() for k, run in runs.items()}
    t = best_times(runs, repeat)
    mp = w * h / 1e6
    return {"model": name, "picture": size, "pixels run, flush": pixels_run(model, pic, flush_layout),
            "pixels run, even": pixels_run(model, pic, tiling.tile_layout), "flush s / MP": t["flush"] / mp,
            "even s / MP": t["even"] / mp, "speed-up": t["flush"] / t["even"],
            "max |diff|": f"{float(np.abs(out['flush'] - out['even']).max()):.1e}"}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--models", nargs="+", default=["image-photo", "image-photo-naf"])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), help="WxH")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from denoise.checkpoint import load
    from denoise.device import reuse_freed_cpu_memory

    reuse_freed_cpu_memory()
    print(f"# {machine()}\n")
    rows = []
    for name in args.models:
        model = load(name, "image", 3).eval()
        rows += [size_row(name, model, size, args.repeat) for size in args.sizes]
    print(table(rows, floats=2))


if __name__ == "__main__":
    main()
