"""Real camera noise: PolyU noisy/clean pairs, ours against the noisy input, colour BM3D and NL-means.

`real-polyu100` holds 100 pairs of 512x512 JPEG crops from five cameras (Xu et al. 2018): one shot, and
the mean of many shots of the same static scene as ground truth. The crops of one scene overlap in
content, so the split is by scene (a file name without its crop number): the scenes at even positions
of the sorted scene list are held out (45 crops), the others (55 crops) may be used for training, and
only the held-out crops are scored here. BM3D and NL-means get σ estimated from each noisy image
(scikit-image's wavelet estimator, averaged over the channels), since real photos come without one.
PSNR and SSIM on 8-bit outputs, as in image_quality.py; the last column is the smallest gain over the
noisy input of any one image; the CPU time is per megapixel over the scored crops, and, for our models
alone, the best of three runs on one 1024x1024 picture (1.05 megapixels).

    python benchmarks/real_noise.py                              # everything (BM3D takes about 10 min)
    python benchmarks/real_noise.py --skip bm3d --limit 10       # a quick look
    python benchmarks/real_noise.py --models image-color runs/x/best.pt
    python benchmarks/real_noise.py --gray                       # the same crops in gray
    python benchmarks/real_noise.py --part val --skip bm3d nlmeans   # the 17 validation crops below
    python benchmarks/real_noise.py --write-split train-part/    # links to the 55 training pairs
    python benchmarks/real_noise.py --write-split parts/ --val-scenes   # parts/fit (38) and parts/val (17)
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.training.evaluation import to8  # noqa: E402
from denoise.training.photo_noise import LUMA  # noqa: E402

FOLDER = "images/real-polyu100"


def scene(noisy: Path) -> str:
    """The scene a crop comes from: its file name without ``_<crop>_noisy.jpg``."""
    return re.sub(r"_\d+_noisy\.[a-z]+$", "", noisy.name)


def split(folder: Path) -> tuple[list[Path], list[Path]]:
    """(training part, held-out part) of the noisy files, by scene: held-out scenes are those at even
    positions of the sorted scene names."""
    noisy = sorted(folder.glob("*_noisy.jpg"))
    scenes = sorted({scene(f) for f in noisy})
    held = {s for i, s in enumerate(scenes) if i % 2 == 0}
    return [f for f in noisy if scene(f) not in held], [f for f in noisy if scene(f) in held]


def clean_of(noisy: Path) -> Path:
    return noisy.with_name(noisy.name.replace("_noisy.", "_clean."))


def estimate_sigma(noisy: np.ndarray) -> float:
    from skimage.restoration import estimate_sigma as est

    return float(est(noisy, channel_axis=-1, average_sigmas=True))


def peers(skip: set[str], gray: bool) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if "bm3d" not in skip:
        try:
            import bm3d

            if gray:
                out["BM3D (estimated σ)"] = lambda n: bm3d.bm3d(n[:, :, 0], sigma_psd=estimate_sigma(n))
            else:
                out["colour BM3D (estimated σ)"] = lambda n: bm3d.bm3d_rgb(n, sigma_psd=estimate_sigma(n))
        except ImportError:
            print("bm3d not installed (pip install -e '.[bench]'): left out", file=sys.stderr)
    if "nlmeans" not in skip:
        try:
            from skimage.restoration import denoise_nl_means

            def nlm(n: np.ndarray) -> np.ndarray:
                s = estimate_sigma(n)
                return denoise_nl_means(n, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True,
                                        channel_axis=-1)

            out["NL-means (estimated σ)"] = nlm
        except ImportError:
            print("scikit-image not installed: NL-means left out", file=sys.stderr)
    return out


def score(pairs: list[tuple[np.ndarray, np.ndarray]], fn: Callable[[np.ndarray], np.ndarray]) -> dict:
    psnr, ssim, gain, seconds, pixels = [], [], [], 0.0, 0
    for clean, noisy in pairs:
        t0 = time.perf_counter()
        out = to8(np.asarray(fn(noisy), np.float32).reshape(clean.shape))
        seconds += time.perf_counter() - t0
        pixels += clean.shape[0] * clean.shape[1]
        psnr.append(metrics.psnr(clean, out))
        ssim.append(metrics.ssim(clean, out))
        gain.append(psnr[-1] - metrics.psnr(clean, to8(noisy)))  # against the input as an 8-bit picture
    return {"PSNR": float(np.mean(psnr)), "SSIM": float(np.mean(ssim)), "gain": float(np.mean(gain)),
            "smallest gain": float(np.min(gain)), "CPU s / MP": seconds / (pixels / 1e6)}


def val_split(train: list[Path]) -> tuple[list[Path], list[Path]]:
    """(fit, validation) of the training part, by scene: the validation scenes are those at positions
    1, 5, 9, ... of its sorted scene names (one of every camera maker), so that a run can choose its
    best.pt on real noise without seeing the held-out crops."""
    scenes = sorted({scene(f) for f in train})
    val = {s for i, s in enumerate(scenes) if i % 4 == 1}
    return [f for f in train if scene(f) not in val], [f for f in train if scene(f) in val]


def link_pairs(noisy: list[Path], dest: Path) -> None:
    """Symbolic links dest/clean/X.jpg and dest/noisy/X.jpg to each pair, for `denoise train`."""
    for sub, pick in (("clean", clean_of), ("noisy", lambda f: f)):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for f in noisy:
            link = dest / sub / pick(f).name.replace("_noisy.", ".").replace("_clean.", ".")
            link.unlink(missing_ok=True)
            link.symlink_to(pick(f).resolve())
    print(f"{len(noisy)} pairs linked under {dest}/clean and {dest}/noisy")


def write_split(folder: Path, dest: Path, val_scenes: bool) -> None:
    """Links to the training part under dest, or, with val_scenes, to its fit and validation parts under
    dest/fit and dest/val."""
    train, _ = split(folder)
    if not val_scenes:
        return link_pairs(train, dest)
    fit, val = val_split(train)
    link_pairs(fit, dest / "fit")
    link_pairs(val, dest / "val")


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--models", nargs="+", default=["image-color", "image-photo"],
                    help="Shipped names or checkpoint files (a missing shipped name is left out).")
    ap.add_argument("--limit", type=int, default=None, help="First N held-out crops.")
    ap.add_argument("--skip", nargs="*", default=[], choices=["bm3d", "nlmeans"])
    ap.add_argument("--write-split", default=None, metavar="DIR", help="Link the training part under DIR, exit.")
    ap.add_argument("--val-scenes", action="store_true",
                    help="With --write-split: link a quarter of its scenes under DIR/val, the rest under DIR/fit.")
    ap.add_argument("--part", choices=["held-out", "val"], default="held-out",
                    help="Score the held-out crops (the benchmark) or the validation scenes of the training part "
                         "(what --val-scenes links under DIR/val: for comparing runs without the held-out crops).")
    ap.add_argument("--gray", action="store_true",
                    help="Score gray versions of the pairs (luma, 0.299 R + 0.587 G + 0.114 B): real camera noise "
                         "in gray photos. Default models: image-gray and image-photo.")
    args = ap.parse_args()
    folder = data_root(args.data_root) / FOLDER
    if args.write_split:
        return write_split(folder, Path(args.write_split), args.val_scenes)
    reuse_freed_cpu_memory()
    logging.basicConfig(level=logging.ERROR)
    held = (split(folder)[1] if args.part == "held-out" else val_split(split(folder)[0])[1])[: args.limit]
    pairs = [(io.read_image(clean_of(f)).pixels, io.read_image(f).pixels) for f in held]
    if args.gray:
        luma = np.array(LUMA, np.float32)
        pairs = [((c @ luma)[:, :, None], (n @ luma)[:, :, None]) for c, n in pairs]
        if args.models == ap.get_default("models"):
            args.models = ["image-gray", "image-photo"]
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {"noisy input": lambda n: n}
    for name in args.models:
        try:
            model = checkpoint.load(name, domain="image", channels=1 if args.gray else 3)
        except checkpoint.CheckpointError as exc:
            print(f"{name}: {exc}: left out", file=sys.stderr)
            continue
        methods[f"denoise {name}"] = lambda n, m=model: arrays.denoise_image_array(m, n)
    picture = np.random.default_rng(0).random((1024, 1024, 1 if args.gray else 3)).astype(np.float32)
    methods.update(peers(set(args.skip), args.gray))
    rows = [{"method": name, **score(pairs, fn)} for name, fn in methods.items()]
    rows[0]["CPU s / MP"] = None
    speed = [{"model": name, "CPU s / MP (best of 3, 1024x1024)": best_time(lambda f=fn: f(picture), 3) / 1.048576}
             for name, fn in methods.items() if name.startswith("denoise ")]
    kind = "gray (luma) versions of " if args.gray else ""
    part = "held-out" if args.part == "held-out" else "validation (training part)"
    print(f"# Real camera noise: {kind}PolyU, {len(pairs)} {part} 512x512 crops; machine: {machine()}\n")
    print(table(rows))
    print(f"\nOur models alone, one after another on one random picture:\n\n{table(speed)}")


if __name__ == "__main__":
    main()
