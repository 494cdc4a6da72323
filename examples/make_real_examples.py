"""Writes the before/after crops of real camera noise in examples/real/ (needs ../shared/data).

    python examples/make_real_examples.py [DATA_ROOT]

Each PNG is a strip of 160x160 crops, left to right: the noisy photo, `denoise image` with the default
model for photos (image-photo), with the Gaussian-noise model (image-color), and, where there is one, the
ground truth (the mean of many shots). The PolyU crops come from scenes held out of all training
(benchmarks/real_noise.py's split); the NC12 photo has no ground truth. The crop is the most textured
160x160 window of the picture (largest local standard deviation of the clean or, without one, the
denoised image), where noise and lost detail both show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIDE = 160
POLYU = ["Canon5D2_5_160_6400_bicycle_6", "NikonD800_5_125_6400_stair_3", "Sony_4-5_125_1600_toy_10"]
NC12 = "__192x192__frog.png"


def textured_window(img: np.ndarray) -> tuple[int, int]:
    """Top-left corner of the SIDE x SIDE window with the largest pixel standard deviation (step 16)."""
    g = img.mean(axis=2)
    best, corner = -1.0, (0, 0)
    for y in range(0, g.shape[0] - SIDE + 1, 16):
        for x in range(0, g.shape[1] - SIDE + 1, 16):
            s = float(g[y : y + SIDE, x : x + SIDE].std())
            if s > best:
                best, corner = s, (y, x)
    return corner


def strip(images: list[np.ndarray], corner: tuple[int, int]) -> Image.Image:
    y, x = corner
    side = min(SIDE, images[0].shape[0], images[0].shape[1])
    tiles = [np.clip(im[y : y + side, x : x + side], 0, 1) for im in images]
    gap = np.ones((side, 4, 3), np.float32)
    row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    return Image.fromarray(np.rint(row * 255).astype(np.uint8))


def main(data_root: str = "../shared/data") -> None:
    from denoise import checkpoint, io
    from denoise.image import arrays

    root = Path(data_root) / "images"
    out = HERE / "real"
    out.mkdir(exist_ok=True)
    photo = checkpoint.load("image-photo", domain="image")
    gauss = checkpoint.load("image-color", domain="image")
    for name in POLYU:
        noisy = io.read_image(root / "real-polyu100" / f"{name}_noisy.jpg").pixels
        clean = io.read_image(root / "real-polyu100" / f"{name}_clean.jpg").pixels
        outs = [arrays.denoise_image_array(m, noisy) for m in (photo, gauss)]
        strip([noisy, *outs, clean], textured_window(clean)).save(out / f"polyu-{name.split('_')[0].lower()}.png")
    noisy = io.read_image(root / "real-noisy-only" / "nc12" / NC12).pixels
    outs = [arrays.denoise_image_array(m, noisy) for m in (photo, gauss)]
    strip([noisy, *outs], textured_window(outs[0])).save(out / "nc12-frog.png")
    print(f"wrote {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    main(*sys.argv[1:])
