"""The other image corruptions: how the shipped blind models do on shot noise, impulse noise, speckle and
dropped pixels, against the noisy input and classic filters that are not told the noise.

Issue 3 asks for image models "robust to the other image corruptions too"; image_quality.py scores only
Gaussian noise. Here each BSD68 (gray) / CBSD68 (colour) image gets one corruption alone, at the two
strengths below (inside the training ranges of denoise.training.noise.ImageCorruption), made by the same functions
that training uses, seeded per (condition, image). Outputs are clipped and rounded to 8 bits as in
image_quality.py. The peers get no true σ, because these noises have none: BM3D and NL-means are given
scikit-image's wavelet estimate of σ (what a user of them would do), and a 3x3 median filter is the
classic answer to impulse noise.

    python benchmarks/image_corruptions.py --skip bm3d             # all images, without the slow BM3D
    python benchmarks/image_corruptions.py --limit 10              # BM3D included, first 10 images
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, table  # noqa: E402
from image_quality import SETS, image_set_parser, mean_scores  # noqa: E402

from denoise import checkpoint, io  # noqa: E402
from denoise.training import noise  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.training.data import list_files  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402

# name, function of denoise.training.noise, parameter: (B,) tensor per image
CONDITIONS = [
    ("Poisson, peak 30", noise.poisson, 30.0),
    ("Poisson, peak 10", noise.poisson, 10.0),
    ("salt & pepper 5 %", noise.salt_pepper, 0.05),
    ("salt & pepper 15 %", noise.salt_pepper, 0.15),
    ("speckle σ 0.1", noise.speckle, 0.1),
    ("speckle σ 0.25", noise.speckle, 0.25),
    ("dropped pixels 10 %", noise.pixel_mask, 0.10),
    ("dropped pixels 25 %", noise.pixel_mask, 0.25),
]


def corrupt(clean: np.ndarray, condition: int, index: int) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] -> the same shape with condition ``condition`` applied, seeded by
    (condition, image index) so every method and every run sees the same input."""
    _, fn, value = CONDITIONS[condition]
    gen = torch.Generator().manual_seed(10_000 * condition + index)
    x = torch.from_numpy(np.ascontiguousarray(clean.transpose(2, 0, 1)))[None]
    return fn(x, torch.tensor([value]), gen)[0].permute(1, 2, 0).numpy()


def methods_for(model, skip: set[str]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from scipy.ndimage import median_filter

    m: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "noisy input": lambda n: n,
        "denoise (blind)": lambda n: arrays.denoise_image_array(model, n),
        "median 3x3": lambda n: median_filter(n, size=(3, 3, 1), mode="reflect"),
    }
    try:
        from skimage.restoration import denoise_nl_means, estimate_sigma
    except ImportError:
        print("scikit-image not installed: BM3D and NL-means left out (they need its σ estimate)", file=sys.stderr)
        return m

    def sigma_of(n: np.ndarray) -> float:
        return max(float(estimate_sigma(n, channel_axis=-1, average_sigmas=True)), 1e-3)

    if "bm3d" not in skip:
        try:
            import bm3d

            m["BM3D (estimated σ)"] = lambda n: (bm3d.bm3d(n[:, :, 0], sigma_psd=sigma_of(n))[:, :, None]
                                                 if n.shape[2] == 1 else bm3d.bm3d_rgb(n, sigma_psd=sigma_of(n)))
        except ImportError:
            print("bm3d not installed: left out", file=sys.stderr)
    if "nlmeans" not in skip:
        m["NL-means (estimated σ)"] = lambda n: denoise_nl_means(
            n, h=0.8 * sigma_of(n), sigma=sigma_of(n), patch_size=5, patch_distance=6, fast_mode=True,
            channel_axis=-1)
    return m


def main() -> None:
    ap = image_set_parser(__doc__)
    ap.add_argument("--model", default=None, help="A checkpoint to score instead of the shipped model.")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.ERROR)
    root = data_root(args.data_root)
    print(f"# Other image corruptions, machine: {machine()}\n")
    for name in args.sets:
        folder, model_name, _ = SETS[name]
        model = checkpoint.load(args.model or model_name, domain="image", channels=1 if name == "gray" else 3)
        files = list_files([root / folder], io.IMAGE_EXTS)[: args.limit]
        clean_set = [io.read_image(f).pixels for f in files]
        rows = []
        for c, (label, _, _) in enumerate(CONDITIONS):
            noisy_set = [corrupt(clean, c, i) for i, clean in enumerate(clean_set)]
            for method, fn in methods_for(model, set(args.skip)).items():
                psnr, ssim = mean_scores(clean_set, noisy_set, fn)
                rows.append({"corruption": label, "method": method, "PSNR": psnr, "SSIM": ssim})
        title = "BSD68 gray" if name == "gray" else "CBSD68 colour"
        print(f"## {title} ({len(files)} images, model {args.model or model_name})\n\n{table(rows)}\n", flush=True)


if __name__ == "__main__":
    main()
