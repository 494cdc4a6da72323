"""Self-supervised (Noise2Void) training on noisy images alone, against the usual references.

1. Adds σ=25 Gaussian noise once to BSD68 gray (`evaluation.add_benchmark_noise`, seed 0: the same noisy
   inputs as `image_quality.py` and `denoise eval`) and saves the noisy images as 32-bit float TIFF, so
   the training data are exactly the test inputs.
2. Trains `denoise train --self-supervised` (default dae) on those noisy images only, for --budget seconds.
3. Reports PSNR/SSIM against the clean images (output clipped and rounded to 8 bits) for: the noisy input,
   the self-supervised model, BM3D given the true σ (PyPI `bm3d`, optional), and the supervised shipped
   image-gray model.

    python benchmarks/self_supervised.py --budget 600
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.config import TrainConfig  # noqa: E402
from denoise.training.data import list_files  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.training.evaluation import add_benchmark_noise, to8  # noqa: E402
from denoise.training.loop import fit  # noqa: E402

SIGMA = 25.0


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--budget", type=float, default=600.0, help="Training seconds.")
    ap.add_argument("--limit", type=int, default=None, help="Use the first N BSD68 images only.")
    ap.add_argument("--out", default="runs/bench-self-supervised")
    ap.add_argument("--no-bm3d", action="store_true")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    root = data_root(args.data_root)
    out = Path(args.out)
    noisy_dir = out / "noisy"
    noisy_dir.mkdir(parents=True, exist_ok=True)
    files = list_files([root / "images/bsd68-gray"], io.IMAGE_EXTS)[: args.limit]
    clean = [io.read_image(f).pixels[:, :, 0] for f in files]
    noisy = [add_benchmark_noise(c, i, SIGMA) for i, c in enumerate(clean)]
    for f, n in zip(files, noisy):
        Image.fromarray(n.astype(np.float32), mode="F").save(noisy_dir / (f.stem + ".tif"))

    t0 = time.perf_counter()
    fit(TrainConfig(domain="image", data=[str(noisy_dir)], out=str(out / "run"), channels=1, steps=10**6,
                    max_time=args.budget, batch_size=16, patch_size=64, lr=1e-3, eval_every=500, save_every=500,
                    num_workers=0, seed=0, device="cpu", self_supervised=True, overwrite=True))
    train_s = time.perf_counter() - t0
    ss = checkpoint.model_from_payload(checkpoint.read_checkpoint(out / "run" / "best.pt"))
    shipped = checkpoint.load("image-gray", domain="image")

    methods = {"noisy input": lambda n: n,
               "denoise --self-supervised (noisy data only)": lambda n: arrays.denoise_image_array(ss, n),
               "denoise image-gray (supervised, shipped)": lambda n: arrays.denoise_image_array(shipped, n)}
    if not args.no_bm3d:
        try:
            import bm3d

            methods["BM3D (true σ)"] = lambda n: bm3d.bm3d(n, sigma_psd=SIGMA / 255.0)
        except ImportError:
            print("bm3d not installed (pip install bm3d): BM3D row left out", file=sys.stderr)
    rows = []
    for name, fn in methods.items():
        p, s, secs = [], [], 0.0
        for c, n in zip(clean, noisy):
            t = time.perf_counter()
            est = to8(np.asarray(fn(n), dtype=np.float32))
            secs += time.perf_counter() - t
            p.append(metrics.psnr(c, est))
            s.append(metrics.ssim(c, est))
        rows.append({"method": name, "PSNR (dB)": float(np.mean(p)), "SSIM": float(np.mean(s)),
                     "CPU s / image": secs / len(clean)})
    print(f"# Self-supervised denoising, BSD68 gray ({len(files)} images), σ {SIGMA:g}")
    print(f"machine: {machine()}; self-supervised training: {train_s:.0f} s on the noisy images only\n")
    print(table(rows))


if __name__ == "__main__":
    main()
