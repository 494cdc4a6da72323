"""Training speed of a shipped image recipe in each `denoise train --precision`.

Runs the real training loop (`denoise.training.loop.fit`: data loading, corruption, forward, backward, AdamW)
with a shipped recipe's model and batch, no workers, and prints seconds per step for each precision:
`--recipe image-gray` (dae width 32, depth 2, blocks 1; train-gray-400, batch 16, 64x64 patches) or
`--recipe image-photo-naf` (the naf network; cbsd432-color, batch 16, 96x96 patches, its noise mix). Each
precision is run twice, for SHORT and SHORT + STEPS steps (`--short`, `--steps`); the difference of the two
wall times divided by STEPS cancels the fixed costs (start-up, data loading, the final validation).

    OMP_NUM_THREADS=1 python benchmarks/train_speed.py              # fp32 and bf16, 200 timed steps
    python benchmarks/train_speed.py --precisions fp32 bf16 --steps 100 --device cpu
    OMP_NUM_THREADS=2 python benchmarks/train_speed.py --recipe image-photo-naf --short 5 --steps 20
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, table  # noqa: E402

from denoise.config import PRECISIONS, CorruptionConfig, TrainConfig  # noqa: E402
from denoise.device import cpu_bf16_instructions, reuse_freed_cpu_memory  # noqa: E402
from denoise.training.loop import fit  # noqa: E402

RECIPES = {
    "image-gray": dict(data="images/train-gray-400", arch="dae", arch_args={"width": 32, "depth": 2, "blocks": 1},
                       channels=1, patch_size=64),
    "image-photo-naf": dict(data="images/cbsd432-color", arch="naf", arch_args={}, channels=3, patch_size=96,
                            loss="psnr", corruption=CorruptionConfig(p_camera=0.3, p_phone=0.35, p_jpeg=0.5)),
}


def timed_run(root: Path, recipe: str, out: Path, steps: int, precision: str, device: str) -> float:
    options = dict(RECIPES[recipe])
    data = root / options.pop("data")
    cfg = TrainConfig(domain="image", data=[str(data)], out=str(out), steps=steps, batch_size=16, lr=1e-3,
                      eval_every=10**6, save_every=10**6, num_workers=0, seed=0, device=device,
                      precision=precision, **options)
    t0 = time.perf_counter()
    fit(cfg)
    return time.perf_counter() - t0


def bf16_support() -> str:
    found = cpu_bf16_instructions()
    return "unknown" if found is None else ", ".join(found) or "no bf16 instructions"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "bf16"])
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="image-gray")
    ap.add_argument("--steps", type=int, default=200, help="timed steps per precision")
    ap.add_argument("--short", type=int, default=20, help="steps of the run whose time is subtracted")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    logging.basicConfig(level=logging.ERROR)  # fit warns that --val is missing, once per run
    root = data_root(args.data_root)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for precision in args.precisions:
            runs = [(f"{precision}-short", args.short), (f"{precision}-long", args.short + args.steps)]
            short, long = (timed_run(root, args.recipe, Path(tmp) / name, n, precision, args.device)
                           for name, n in runs)
            rows.append({"precision": precision, "s / step": (long - short) / args.steps})
    base = rows[0]["s / step"]
    for r in rows:
        r[f"speed-up vs {rows[0]['precision']}"] = base / r["s / step"]
    size = RECIPES[args.recipe]["patch_size"]
    print(f"Training speed, {args.recipe} recipe (batch 16, {size}x{size}), {args.device}: {machine()}; "
          f"CPU bf16 support: {bf16_support()}\n")
    print(table(rows, floats=3))


if __name__ == "__main__":
    main()
