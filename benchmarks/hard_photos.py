"""The hard end of photos: heavy phone and low-light noise, noisy JPEGs, 12-megapixel speed, and how close
the synthetic camera noise comes to real noise. Every row of a table comes from the same run.

1. Heavy synthetic noise: centre crops of CBSD68 (never trained on) through the camera pipeline of
   ``denoise.training.photo_noise`` at three fixed levels (shot variance 1e-3, 1e-2 and 5e-2 of full scale,
   read noise from the shot as in training, row noise 0.3, the phone's own smoothing and sharpening drawn
   per crop, JPEG 4:2:0 at quality 85): a table by level with BM3D and NL-means (σ estimated) and the models.
2. Noisy JPEG: the same crops with Gaussian noise of σ 20, saved as PNG, as JPEG q92 and q75 (4:2:0, as
   phones and Pillow write) and as JPEG q92 4:4:4: PSNR of each input and output against the clean crop.
3. Speed: CPU seconds per megapixel of the models on a 1024x1024 and a 4032x3024 picture (one run each,
   after a warm-up on a small picture), side by side in one process; and their cost: parameters,
   multiply-accumulates per megapixel, and the time of their ONNX graph in onnxruntime on the 1024x1024
   picture (with the torch thread count; left out without onnxruntime, or with --skip onnx).
4. Noise statistics, synthetic against real: the noise's standard deviation at three brightness levels,
   its correlation with the right-hand neighbour (spatial correlation), and the mean correlation between
   its R, G and B (cross-channel correlation). Real noise: the PolyU held-out pairs, and the NC12 photos
   (real-noisy-only/nc12, no clean version), whose noise is taken as the photo minus image-photo's output;
   PolyU is measured that way too, to show how far that estimate is from the truth. Synthetic: the
   camera corruption without and with the camera's own noise reduction (``--camera-nr``), and the phone one.

    python benchmarks/hard_photos.py --models image-photo runs/naf/best.pt
    python benchmarks/hard_photos.py --limit 4 --skip bm3d         # a quick look
"""

from __future__ import annotations

import importlib.util
import io as bytes_io
import logging
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, macs_per_pixel, parser, table  # noqa: E402
from real_noise import clean_of, peers, score, split  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.models import count_parameters  # noqa: E402
from denoise.training import photo_noise  # noqa: E402
from denoise.training.evaluation import to8  # noqa: E402

LEVELS = {"shot 1e-3 (bright)": 1e-3, "shot 1e-2 (indoor)": 1e-2, "shot 5e-2 (night)": 5e-2}
CROP = 256
REFERENCE = "image-photo"  # what stands in for the clean picture where there is none (noise statistics)


def crops(root: Path, limit: int) -> list[np.ndarray]:
    """Centre crops (CROP², float32 RGB in [0, 1]) of the first ``limit`` CBSD68 pictures."""
    out = []
    for f in sorted((root / "images/cbsd68-color").iterdir())[:limit]:
        im = io.read_image(f).pixels
        y, x = (im.shape[0] - CROP) // 2, (im.shape[1] - CROP) // 2
        out.append(np.ascontiguousarray(im[y : y + CROP, x : x + CROP]))
    return out


def heavy(clean: np.ndarray, shot: float, seed: int) -> np.ndarray:
    """``clean`` (H, W, 3) through the camera pipeline at a fixed shot-noise level (see the module text)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(clean).permute(2, 0, 1)[None]
    cam = photo_noise.CameraParams.draw(1, g)
    cam.shot = torch.tensor([shot])
    cam.read = torch.tensor([float(np.exp(2.18 * np.log(shot) + 1.2))])
    out = photo_noise.phone_processing(photo_noise.capture(x, cam, g, row_noise=0.3), g)
    out = photo_noise.jpeg(out[0], 85)
    return out.permute(1, 2, 0).numpy()


def encode(noisy: np.ndarray, quality: int | None, subsampling: int = 2) -> np.ndarray:
    """``noisy`` as 8-bit PNG (quality None) or JPEG (subsampling 2 is 4:2:0, 0 is 4:4:4), decoded again."""
    from PIL import Image

    buf = bytes_io.BytesIO()
    im = Image.fromarray((to8(noisy) * 255).round().astype(np.uint8))
    if quality is None:
        im.save(buf, format="PNG")
    else:
        im.save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buf).convert("RGB")).astype(np.float32) / 255.0


def heavy_table(clean: list[np.ndarray], methods: dict[str, Callable]) -> list[dict]:
    rows = []
    for level, shot in LEVELS.items():
        pairs = [(to8(c), heavy(c, shot, i)) for i, c in enumerate(clean)]
        for name, fn in methods.items():
            r = score(pairs, fn)
            rows.append({"level": level, "method": name, "PSNR": r["PSNR"], "SSIM": r["SSIM"], "gain": r["gain"],
                         "smallest gain": r["smallest gain"]})
    return rows


def jpeg_table(clean: list[np.ndarray], methods: dict[str, Callable]) -> list[dict]:
    rng = np.random.default_rng(0)
    noisy = [c + rng.normal(0, 20 / 255, c.shape).astype(np.float32) for c in clean]
    forms = {"PNG": (None, 2), "JPEG q92 4:2:0": (92, 2), "JPEG q75 4:2:0": (75, 2), "JPEG q92 4:4:4": (92, 0)}
    rows = []
    for name, fn in methods.items():
        row = {"method": name}
        for form, (q, sub) in forms.items():
            pairs = [(to8(c), encode(n, q, sub)) for c, n in zip(clean, noisy)]
            row[form] = score(pairs, fn)["PSNR"]
        rows.append(row)
    return rows


def speed_table(models: dict[str, Callable]) -> list[dict]:
    rng = np.random.default_rng(1)
    rows = []
    for name, fn in models.items():
        fn(rng.random((64, 64, 3), dtype=np.float32))  # warm-up
        row = {"model": name}
        for label, (h, w) in {"1024x1024": (1024, 1024), "4032x3024 (12 MP)": (3024, 4032)}.items():
            picture = rng.random((h, w, 3), dtype=np.float32)
            t0 = time.perf_counter()
            fn(picture)
            row[f"s / MP, {label}"] = (time.perf_counter() - t0) / (h * w / 1e6)
        row["s for 12 MP"] = row["s / MP, 4032x3024 (12 MP)"] * 12.19
        rows.append(row)
    return rows


def cost_table(names: list[str], onnx: bool) -> list[dict]:
    """Per model: parameters, GMAC per megapixel, and onnxruntime seconds per megapixel on 1024x1024."""
    import tempfile

    rows = []
    for name in names:
        model = checkpoint.load(name, domain="image", channels=3).eval()
        row = {"model": name, "parameters": count_parameters(model),
               "GMAC / MP": macs_per_pixel(model, 256, 3) * 1e6 / 1e9}
        if onnx:
            import onnxruntime as ort

            from denoise.export import export_onnx

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            with tempfile.TemporaryDirectory() as tmp:
                session = ort.InferenceSession(str(export_onnx(model, Path(tmp) / "m.onnx")), opts,
                                               providers=["CPUExecutionProvider"])
                x = np.random.default_rng(2).random((1, 3, 1024, 1024), dtype=np.float32)
                session.run(None, {"noisy": x[:, :, :64, :64]})  # warm-up
                t0 = time.perf_counter()
                session.run(None, {"noisy": x})
                row["onnxruntime s / MP, 1024x1024"] = (time.perf_counter() - t0) / (1024 * 1024 / 1e6)
        rows.append(row)
    return rows


def noise_stats(noise: np.ndarray, clean: np.ndarray) -> dict:
    """Noise (H, W, 3) of a picture whose clean version is ``clean``: σ (0-255) by brightness, the
    correlation with the right-hand neighbour, the mean correlation between channels."""
    y = clean.mean(axis=2)
    out = {}
    for label, lo, hi in (("σ dark", 0.0, 0.25), ("σ mid", 0.25, 0.6), ("σ bright", 0.6, 1.01)):
        sel = (y >= lo) & (y < hi)
        out[label] = float(noise[sel].std() * 255) if sel.sum() > 100 else None
    a, b = noise[:, :-1].reshape(-1), noise[:, 1:].reshape(-1)
    out["neighbour corr."] = float(np.corrcoef(a, b)[0, 1])
    c = noise.reshape(-1, 3).T
    cc = np.corrcoef(c)
    out["R/G/B corr."] = float((cc[0, 1] + cc[0, 2] + cc[1, 2]) / 3)
    return out


def stats_table(root: Path, limit: int) -> list[dict]:
    """Noise statistics of the real noise and of the training corruptions on the same clean pictures. Photos
    without a clean version (NC12) are measured against REFERENCE's output instead ("estimated"), and so is
    PolyU, to show what that estimate changes where the truth is known."""
    held = split(root / "images/real-polyu100")[1][:limit]
    pairs = [(io.read_image(clean_of(f)).pixels, io.read_image(f).pixels) for f in held]
    reference = checkpoint.load(REFERENCE, domain="image", channels=3)

    def estimated(noisy: np.ndarray) -> dict:
        est = np.clip(arrays.denoise_image_array(reference, noisy), 0, 1)
        return noise_stats(noisy - est, est)

    real, polyu_est, nc12_est = ("real (PolyU held-out)", f"real (PolyU, estimated by {REFERENCE})",
                                 f"real (NC12, estimated by {REFERENCE})")
    synthetic = {"camera (training, 0.5 JPEG)": photo_noise.camera,
                 "camera with its own NR (training, 0.5 JPEG)": partial(photo_noise.camera, p_nr=1.0),
                 "phone (training)": photo_noise.phone}
    kinds: dict[str, list[dict]] = {k: [] for k in (real, polyu_est, nc12_est, *synthetic)}
    for i, (clean, noisy) in enumerate(pairs):
        kinds[real].append(noise_stats(noisy - clean, clean))
        kinds[polyu_est].append(estimated(noisy))
        x = torch.from_numpy(np.ascontiguousarray(clean)).permute(2, 0, 1)[None]
        for kind, fn in synthetic.items():
            syn = fn(x, torch.Generator().manual_seed(i))[0].permute(1, 2, 0).numpy()
            kinds[kind].append(noise_stats(syn - clean, clean))
    for f in sorted((root / "images/real-noisy-only/nc12").glob("*.png")):
        kinds[nc12_est].append(estimated(opaque_part(io.read_image(f))))
    return [median_row(kind, stats) for kind, stats in kinds.items()]


def opaque_part(image: io.ImageData) -> np.ndarray:
    """The (H, W, C) pixels inside the bounding box of the opaque ones: the NC12 crops are pictures padded
    to 192x192 with transparent black, which is no noise."""
    if image.alpha is None:
        return image.pixels
    rows, cols = np.nonzero(image.alpha == image.alpha.max())
    return image.pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def median_row(kind: str, stats: list[dict]) -> dict:
    row: dict = {"noise": kind, "pictures": len(stats)}
    for key in stats[0]:
        vals = [s[key] for s in stats if s[key] is not None]
        row[key] = float(np.median(vals)) if vals else None
    return row


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--models", nargs="+", default=["image-photo"], help="Shipped names or checkpoint files.")
    ap.add_argument("--limit", type=int, default=12, help="CBSD68 crops (and PolyU pairs for the statistics).")
    ap.add_argument("--skip", nargs="*", default=[], choices=["bm3d", "nlmeans", "speed", "onnx", "quality"])
    args = ap.parse_args()
    root = data_root(args.data_root)
    reuse_freed_cpu_memory()
    logging.basicConfig(level=logging.ERROR)
    models = {}
    for name in args.models:
        model = checkpoint.load(name, domain="image", channels=3)
        models[f"denoise {name}"] = lambda n, m=model: arrays.denoise_image_array(m, n)
    methods: dict[str, Callable] = {"noisy input": lambda n: n, **models, **peers(set(args.skip), gray=False)}
    clean = crops(root, args.limit)
    print(f"# Hard photos: {len(clean)} CBSD68 centre crops of {CROP}²; machine: {machine()}\n")
    if "quality" not in args.skip:
        print("## Heavy synthetic noise\n\n" + table(heavy_table(clean, methods)))
        print("\n## Noisy JPEG (Gaussian σ 20, then saved as ...): PSNR (dB)\n\n" + table(jpeg_table(clean, methods)))
    if "speed" not in args.skip:
        print("\n## Speed (CPU seconds per megapixel)\n\n" + table(speed_table(models)))
        onnx = "onnx" not in args.skip and importlib.util.find_spec("onnxruntime") is not None
        print("\n## Cost\n\n" + table(cost_table(args.models, onnx)))
    print("\n## Noise statistics (median over the pictures)\n\n" + table(stats_table(root, args.limit), floats=3))


if __name__ == "__main__":
    main()
