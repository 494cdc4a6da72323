"""Gaussian denoising on the published benchmarks: ours against the noisy input, BM3D and NL-means, next
to the published DnCNN / FFDNet / DRUNet numbers.

Protocol of the DnCNN/KAIR test scripts: noisy = clean + N(0, (σ/255)²) in float, no clipping, seed 0;
outputs clipped to [0, 1] and rounded to 8 bits; PSNR and SSIM averaged over BSD68 (gray: σ 15, 25, 50)
and CBSD68 (colour: σ 15, 25, 30, 50). BM3D (PyPI `bm3d`) and NL-means (scikit-image) get the true σ.
The last table times one 512x512 image on the CPU for every method.

    python benchmarks/image_quality.py                          # everything (BM3D makes it slow)
    python benchmarks/image_quality.py --sets gray --limit 10   # quicker look
    python benchmarks/image_quality.py --ensemble               # also `denoise image --ensemble` (x8)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.training.data import list_files  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.training.evaluation import add_benchmark_noise, to8  # noqa: E402

SETS = {"gray": ("images/bsd68-gray", "image-gray", [15.0, 25.0, 50.0]),
        "color": ("images/cbsd68-color", "image-color", [15.0, 25.0, 30.0, 50.0])}
# from ../shared/data/README.md (cszn/DnCNN and cszn/DPIR README tables)
PUBLISHED = {"gray": {"DnCNN-S": {15: 31.73, 25: 29.23, 50: 26.23}, "DnCNN-B (blind)": {15: 31.61, 25: 29.16, 50: 26.23},
                      "FFDNet": {15: 31.63, 25: 29.19, 50: 26.29}, "DRUNet": {15: 31.91, 25: 29.48, 50: 26.59}},
             "color": {"FFDNet": {30: 30.32, 50: 27.97}, "DRUNet": {30: 30.81, 50: 28.51}}}


def methods_for(model, sigma: float, skip: set[str], ensemble: bool) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    m: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "noisy input": lambda n: n,
        "denoise (blind)": lambda n: arrays.denoise_image_array(model, n),
    }
    if ensemble:
        m["denoise --ensemble (blind, x8)"] = lambda n: arrays.denoise_image_array(model, n, ensemble=True)
    s = sigma / 255.0
    if "bm3d" not in skip:
        try:
            import bm3d

            m["BM3D (true σ)"] = lambda n: (bm3d.bm3d(n[:, :, 0], sigma_psd=s)[:, :, None] if n.shape[2] == 1
                                            else bm3d.bm3d_rgb(n, sigma_psd=s))
        except ImportError:
            print("bm3d not installed: left out", file=sys.stderr)
    if "nlmeans" not in skip:
        try:
            from skimage.restoration import denoise_nl_means

            m["NL-means (true σ)"] = lambda n: denoise_nl_means(
                n, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=-1)
        except ImportError:
            print("scikit-image not installed: NL-means left out", file=sys.stderr)
    return m


def mean_scores(clean_set: list[np.ndarray], noisy_set: list[np.ndarray],
                fn: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Mean PSNR and SSIM of ``fn(noisy)`` against clean over a set of (H, W, C) images, each output
    clipped and rounded to 8 bits first, as the published tables do."""
    p, s = [], []
    for clean, noisy in zip(clean_set, noisy_set):
        out = to8(np.asarray(fn(noisy), np.float32).reshape(clean.shape))
        p.append(metrics.psnr(clean, out))
        s.append(metrics.ssim(clean, out))
    return float(np.mean(p)), float(np.mean(s))


def image_set_parser(doc: str) -> argparse.ArgumentParser:
    """The options of both image benchmarks: data root, which sets, how many images, which peers to skip."""
    ap = parser(doc)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--sets", nargs="+", default=["gray", "color"], choices=list(SETS))
    ap.add_argument("--limit", type=int, default=None, help="First N images of each set.")
    ap.add_argument("--skip", nargs="*", default=[], choices=["bm3d", "nlmeans"])
    return ap


def main() -> None:
    ap = image_set_parser(__doc__)
    ap.add_argument("--ensemble", action="store_true", help="Also score `denoise image --ensemble` (x8, slow).")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.ERROR)
    root = data_root(args.data_root)
    skip = set(args.skip)
    print(f"# Gaussian denoising (benchmark protocol), machine: {machine()}\n")
    for name in args.sets:
        folder, model_name, sigmas = SETS[name]
        model = checkpoint.load(model_name, domain="image")
        files = list_files([root / folder], io.IMAGE_EXTS)[: args.limit]
        clean_set = [io.read_image(f).pixels for f in files]
        rows = []
        for sigma in sigmas:
            noisy_set = [add_benchmark_noise(clean, i, sigma) for i, clean in enumerate(clean_set)]
            for method, fn in methods_for(model, sigma, skip, args.ensemble).items():
                psnr, ssim = mean_scores(clean_set, noisy_set, fn)
                rows.append({"σ": f"{sigma:g}", "method": method, "PSNR": psnr, "SSIM": ssim})
            for method, numbers in PUBLISHED[name].items():
                if int(sigma) in numbers:
                    rows.append({"σ": f"{sigma:g}", "method": f"{method} (published)", "PSNR": numbers[int(sigma)],
                                 "SSIM": None})
        label = "BSD68 gray" if name == "gray" else "CBSD68 colour"
        print(f"## {label} ({len(files)} images, model {model_name})\n\n{table(rows)}\n")
        img = np.random.default_rng(1).random((512, 512, 1 if name == "gray" else 3)).astype(np.float32)
        speed = [{"method": m, "CPU s / 512² image": best_time(lambda f=f: f(img), 1)}
                 for m, f in methods_for(model, 25.0, skip, args.ensemble).items() if m != "noisy input"]
        print(f"CPU time, one 512x512 {label.split()[1]} image (σ 25):\n\n{table(speed)}\n")


if __name__ == "__main__":
    main()
