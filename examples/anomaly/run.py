"""Anomaly detection with an autoencoder, end to end, on data this script generates.

1. Makes "normal" images of one kind: woven-fabric-like gratings with random angle, period and phase.
2. Trains an autoencoder on normal images only: by default `dae`, the denoiser, which scored best here
   (examples/README.md); `--arch ae|sparse|vae` tries another member of the family, same settings.
3. Scores a held-out folder of normal images mixed with defective ones (a scratch, a stain or a hole),
   with `denoise score --json`.
4. Prints the ROC AUC of the score for telling defective from normal, and the top of the ranking.

    python examples/anomaly/run.py            # ~3 minutes on 2 CPU cores
    python examples/anomaly/run.py --steps 50 # quick look
    python examples/anomaly/run.py --arch ae  # the classic bottleneck autoencoder instead

Everything goes to a fresh temporary folder that is deleted at the end; `--workdir DIR` (a new or empty
folder) keeps the images, the model and the scores instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 64
# Same encoder/decoder size for every member; ae and vae get an 8-channel latent, sparse keeps the 8
# largest of 32 channels at each latent position, dae has no bottleneck (skips at every level).
ARCH_ARGS = {
    "ae": {"width": 16, "depth": 3, "blocks": 1, "latent_channels": 8},
    "sparse": {"width": 16, "depth": 3, "blocks": 1, "latent_channels": 32, "k": 8},
    "vae": {"width": 16, "depth": 3, "blocks": 1, "latent_channels": 8},
    "dae": {"width": 16, "depth": 3, "blocks": 1},
}


def fabric(rng: np.random.Generator) -> np.ndarray:
    """(SIZE, SIZE) in [0, 1]: two crossed gratings with mild lighting drift and sensor noise."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    a = rng.uniform(0, np.pi)
    p1, p2 = rng.uniform(5, 9), rng.uniform(5, 9)
    u = x * np.cos(a) + y * np.sin(a)
    v = -x * np.sin(a) + y * np.cos(a)
    img = 0.5 + 0.18 * np.sin(2 * np.pi * u / p1 + rng.uniform(0, 6)) + 0.18 * np.sin(2 * np.pi * v / p2)
    img += 0.05 * (x / SIZE - 0.5) * rng.uniform(-1, 1)
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)


def defect(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.copy()
    kind = rng.integers(3)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    cy, cx = rng.uniform(12, SIZE - 12, 2)
    if kind == 0:  # scratch: a thin bright line
        a = rng.uniform(0, np.pi)
        d = np.abs((x - cx) * np.sin(a) - (y - cy) * np.cos(a))
        along = np.abs((x - cx) * np.cos(a) + (y - cy) * np.sin(a))
        out[(d < 1.0) & (along < rng.uniform(10, 25))] = 0.95
    elif kind == 1:  # stain: a smooth dark blob
        r = rng.uniform(4, 8)
        out *= 1 - 0.6 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r**2))
    else:  # hole: the weave is missing in a small disc
        r = rng.uniform(3, 6)
        out[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = 0.5
    return np.clip(out, 0, 1)


def save(img: np.ndarray, path: Path) -> None:
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(path)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random anomaly scores above a random normal file (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default="dae", choices=list(ARCH_ARGS))
    ap.add_argument("--workdir", default=None, help="Keep everything in this new or empty folder.")
    args = ap.parse_args()
    if args.workdir:
        work = Path(args.workdir)
        if work.exists() and any(work.iterdir()):
            sys.exit(f"--workdir {work} is not empty; give a new or empty folder")
    with contextlib.nullcontext(args.workdir) if args.workdir else \
            tempfile.TemporaryDirectory(prefix="denoise-anomaly-") as folder:
        run(Path(folder), args.steps, args.seed, args.arch)


def run(work: Path, steps: int, seed: int, arch: str) -> None:
    rng = np.random.default_rng(seed)
    (work / "train").mkdir(parents=True)
    (work / "test").mkdir()
    for i in range(200):
        save(fabric(rng), work / "train" / f"normal_{i:03d}.png")
    labels = {}
    for i in range(60):
        anomalous = i % 3 == 0  # 20 defective, 40 normal
        img = fabric(rng)
        name = f"{'defect' if anomalous else 'normal'}_{i:03d}.png"
        save(defect(img, rng) if anomalous else img, work / "test" / name)
        labels[name] = int(anomalous)

    denoise = [sys.executable, "-m", "denoise"]
    subprocess.run(denoise + [
        "train", "--domain", "image", "--data", str(work / "train"), "--out", str(work / "run"),
        "--arch", arch, "--arch-args", json.dumps(ARCH_ARGS[arch]),
        "--steps", str(steps), "--batch-size", "16", "--patch-size", "64", "--lr", "2e-3",
        "--eval-every", str(max(1, steps // 4)), "--workers", "0", "--seed", str(seed), "-q",
    ], check=True)
    out = subprocess.run(denoise + ["score", str(work / "test"), "--model", str(work / "run" / "best.pt"),
                                    "--json"], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    scores = np.array([r["score"] for r in rows])
    y = np.array([labels[Path(r["path"]).name] for r in rows])
    print(f"{len(rows)} test images ({y.sum()} defective), model: {arch} trained {steps} steps on 200 normal images")
    print("top of the ranking (most unusual first):")
    for r in rows[:8]:
        print(f"  {r['score']:.5f}  {Path(r['path']).name}")
    print(f"ROC AUC: {roc_auc(scores, y):.3f}")


if __name__ == "__main__":
    main()
