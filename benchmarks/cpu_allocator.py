"""What `denoise.device.reuse_freed_cpu_memory` (called by every command that runs a model) changes on the CPU.

glibc's malloc maps each block over 32 MiB fresh from the kernel and unmaps it when it is freed, so every
large tensor is paid for again in page faults: one per 4 KiB touched, kernel time in the table. The commands
raise its mmap and trim thresholds so that freed blocks are reused. Each row runs in a child process of its
own, "system" (glibc's defaults) and "reuse" (what the commands do) alternately, and gives the median over
--repeat runs:

- train-audio: `denoise.training.loop.fit` with `denoise train --domain audio`'s defaults (dae, batch 16 two-second
  segments, speech/train mixed with noise/train, no workers); the time of 1 + --steps steps minus that of 1
  step, per step, which cancels start-up and validation;
- train-image: the same with image-gray's recipe (dae width 32, depth 3; batch 16 64x64 patches of
  train-gray-400) in float32, ten times as many steps;
- image: image-color on one 2048x1536 picture (random pixels), the first call in the process and the next;
- audio: audio-speech on 120 s of audio, the first call and the next.

    python benchmarks/cpu_allocator.py                      # about 20 minutes on 2 cores
    python benchmarks/cpu_allocator.py --rows image audio --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, peak_rss_run, table  # noqa: E402

ROWS = ("train-audio", "train-image", "image", "audio")
ARMS = ("system", "reuse")


def _kernel_seconds() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def _train(spec: dict, out: Path) -> dict:
    import logging
    import time

    from denoise.config import TrainConfig
    from denoise.training.loop import fit

    logging.basicConfig(level=logging.ERROR)  # fit says that --val is missing
    root = Path(spec["data"])
    if spec["row"] == "train-audio":  # `denoise train --domain audio`'s defaults
        recipe = dict(domain="audio", data=[str(root / "audio/speech/train")],
                      noise_dir=str(root / "audio/noise/train"))
        steps = spec["steps"]
    else:  # image-gray's recipe (checkpoints/README.md), in float32
        recipe = dict(domain="image", data=[str(root / "images/train-gray-400")], channels=1,
                      arch_args={"width": 32, "depth": 3, "blocks": 1}, batch_size=16, patch_size=64)
        steps = 10 * spec["steps"]  # a tenth of the time per step

    def run(n: int) -> tuple[float, float]:
        cfg = TrainConfig(**recipe, out=str(out / f"run{n}"), steps=n, eval_every=10**6, save_every=10**6,
                          num_workers=0, seed=0, device="cpu", precision="fp32")
        t0, k0 = time.perf_counter(), _kernel_seconds()
        fit(cfg)
        return time.perf_counter() - t0, _kernel_seconds() - k0

    short, k_short = run(1)
    long, k_long = run(1 + steps)
    return {"seconds": (long - short) / steps, "kernel": (k_long - k_short) / steps}


def _inference(spec: dict) -> dict:
    import time

    import numpy as np

    from denoise import api

    rng = np.random.default_rng(0)
    if spec["row"] == "image":
        model = api.load_model("image-color", "cpu", domain="image", channels=3)
        x = rng.random((1536, 2048, 3), dtype=np.float32)
        run = lambda: api.denoise_image(x, model=model)  # noqa: E731
    else:
        model = api.load_model("audio-speech", "cpu", domain="audio")
        x = (rng.standard_normal(16000 * 120) * 0.1).astype(np.float32)
        run = lambda: api.denoise_audio(x, 16000, model=model)  # noqa: E731
    k0, times = _kernel_seconds(), []
    for _ in range(2):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return {"first": times[0], "again": times[1], "kernel": _kernel_seconds() - k0}


def _child(spec: dict, out: str) -> None:
    import torch

    from denoise.device import reuse_freed_cpu_memory

    if spec["arm"] == "reuse" and not reuse_freed_cpu_memory():
        raise SystemExit("reuse_freed_cpu_memory() had no effect here (not glibc, or too old a glibc)")
    torch.set_num_threads(spec["threads"])
    with tempfile.TemporaryDirectory() as tmp:
        result = _train(spec, Path(tmp)) if spec["row"].startswith("train") else _inference(spec)
    Path(out).write_text(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    ap.add_argument("--repeat", type=int, default=2, help="runs per row and setting (median; default 2)")
    ap.add_argument("--steps", type=int, default=4, help="train-audio: timed steps per run (default 4; "
                    "train-image: ten times as many)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--data-root", default=None, help="train rows: the shared data folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child), args.out)
        return

    data = str(data_root(args.data_root)) if any(r.startswith("train") for r in args.rows) else None
    print(f"# glibc malloc defaults against reuse_freed_cpu_memory(), machine: {machine().rsplit(',', 1)[0]}, "
          f"{args.threads} thread(s), median of {args.repeat}\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in args.rows:
            runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
            for i in range(args.repeat):
                for arm in ARMS:  # alternately, so that a slow spell of the machine hits both
                    spec = dict(row=row, arm=arm, threads=args.threads, steps=args.steps, data=data)
                    out = str(Path(tmp) / f"{row}-{arm}-{i}.json")
                    _, status, peak = peak_rss_run([sys.executable, __file__, "--child", json.dumps(spec),
                                                    "--out", out])
                    if status != 0:
                        raise SystemExit(f"{row} / {arm} failed (status {status})")
                    runs[arm].append({**json.loads(Path(out).read_text()), "peak": peak})
            for arm in ARMS:
                med = {k: statistics.median(r[k] for r in runs[arm]) for k in runs[arm][0]}
                rows.append({"row": row, "malloc": arm, "time s": med.get("seconds", med.get("first")),
                             "again s": med.get("again"), "kernel s": med["kernel"], "peak MiB": round(med["peak"])})
    print(table(rows))
    print("\ntrain-*: seconds and kernel seconds per training step; image / audio: seconds of the first "
          "call in the process and of the next, kernel seconds of both.")

if __name__ == "__main__":
    main()
