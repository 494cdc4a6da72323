"""Compare the autoencoder family (ae, dae, sparse, vae) under the same training budget.

Each architecture is trained from scratch for the same wall-clock budget with its default arguments
(``defaults=`` of each architecture's ``register``, listed by ``denoise models --archs``), then scored:

- image: gray models trained on images/train-gray-400, PSNR on BSD68 at σ 25 (benchmark protocol);
- audio: trained on speech/train + noise/train, SI-SDR on speech/dev mixed with noise/dev at 0/5/10 dB.

It prints one Markdown table per domain: parameters, training steps reached in the budget, quality, and
CPU inference time (one 512x512 image; one 10 s clip, as a real-time factor).

    python benchmarks/architectures.py --budget 300          # 8 runs x 300 s
    python benchmarks/architectures.py --domains image --archs ae dae --budget 60
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint  # noqa: E402
from denoise.training import evaluation  # noqa: E402
from denoise.audio import chunks  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.config import TrainConfig  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.models import count_parameters  # noqa: E402
from denoise.training.loop import fit  # noqa: E402

ARCHS = ["ae", "dae", "sparse", "vae"]


def run_one(domain: str, arch: str, root: Path, budget: float, out: Path, seed: int) -> dict:
    if domain == "image":
        cfg = TrainConfig(domain="image", data=[str(root / "images/train-gray-400")], out=str(out), arch=arch,
                          channels=1, steps=10**6, max_time=budget, batch_size=16, patch_size=64, lr=1e-3,
                          eval_every=10**6, save_every=10**6, num_workers=0, seed=seed, device="cpu", overwrite=True)
    else:
        cfg = TrainConfig(domain="audio", data=[str(root / "audio/speech/train")],
                          noise_dir=str(root / "audio/noise/train"), out=str(out), arch=arch, steps=10**6,
                          max_time=budget, batch_size=8, patch_size=32000, lr=1e-3, eval_every=10**6,
                          save_every=10**6, num_workers=0, seed=seed, device="cpu", overwrite=True)
    rec = fit(cfg)
    model = checkpoint.model_from_payload(checkpoint.read_checkpoint(out / "last.pt"))
    row = {"arch": arch, "params": f"{count_parameters(model):,}", "steps": rec["step"]}
    if domain == "image":
        r = evaluation.eval_images(model, root / "images/bsd68-gray", [25.0])[0]
        row["PSNR σ25 (dB)"] = r["psnr"]
        row["SSIM σ25"] = r["ssim"]
        img = np.random.default_rng(0).random((512, 512), dtype=np.float32)
        row["CPU s / 512² image"] = best_time(lambda: arrays.denoise_image_array(model, img), 2)
    else:
        rows = evaluation.eval_audio(model, root / "audio/speech/dev", root / "audio/noise/dev", [0.0, 5.0, 10.0])
        for r in rows:
            row[f"SI-SDR {r['snr']:g} dB"] = r["out_si_sdr"]
        clip = np.random.default_rng(0).standard_normal(160000).astype(np.float32) * 0.05
        t = best_time(lambda: chunks.denoise_audio_array(model, clip, 16000), 2)
        row["× real time (CPU)"] = 10.0 / t
    return row


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None, help="Folder with images/ and audio/ (default ../shared/data).")
    ap.add_argument("--budget", type=float, default=300.0, help="Training seconds per architecture and domain.")
    ap.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    ap.add_argument("--domains", nargs="+", default=["image", "audio"], choices=["image", "audio"])
    ap.add_argument("--out", default="runs/bench-architectures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    root = data_root(args.data_root)
    print(f"# Architectures, {args.budget:.0f} s training budget each, seed {args.seed}")
    print(f"machine: {machine()}\n")
    t0 = time.perf_counter()
    for domain in args.domains:
        rows = []
        for arch in args.archs:
            out = Path(args.out) / f"{domain}-{arch}"  # a fresh run each time (overwrite): same budget for all
            rows.append(run_one(domain, arch, root, args.budget, out, args.seed))
            print(f"  ({domain} {arch} done, {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        title = "BSD68 gray, σ 25" if domain == "image" else "speech/dev + noise/dev"
        print(f"## {domain} ({title})\n\n{table(rows)}\n")


if __name__ == "__main__":
    main()
