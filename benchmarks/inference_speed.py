"""CPU inference settings: weight memory layout, image tile size and batch size, timed on the shipped models.

Each setting runs in a child process of its own, so that its peak resident memory (``os.wait4``, the
kernel's count for that process alone) is not mixed with the others'. Rows:

- image-gray on a 512x512 and a 2048x2048 image (random pixels: the time does not depend on them), with
  the weights contiguous (NCHW, the layout before this benchmark) or channels-last, tiles of 256 or 512
  pixels, and 1 or 8 tiles per forward pass;
- audio-speech on 60 s of audio, NCHW or channels-last, 1 or 4 chunks per forward pass.

The last column compares each output with the first row of its group (largest absolute difference):
layout and batch change the float rounding only, the tile size changes where tiles are blended.

    python benchmarks/inference_speed.py              # all rows, about 5 minutes on 2 cores
    python benchmarks/inference_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

IMAGE_ROWS = [  # (side, layout, tile, batch)
    (512, "nchw", 256, 8), (512, "channels_last", 256, 8), (512, "nchw", 512, 8), (512, "channels_last", 512, 8),
    (512, "channels_last", 512, 1),
    (2048, "nchw", 256, 8), (2048, "channels_last", 256, 8), (2048, "channels_last", 512, 8),
    (2048, "channels_last", 512, 1),
]
AUDIO_ROWS = [("nchw", 4), ("channels_last", 4), ("channels_last", 1)]  # (layout, batch)
AUDIO_SECONDS = 60


def _one(spec: dict, out: str) -> None:
    """Child process: times one setting (best of two after a warm-up) and saves its output for comparison."""
    import numpy as np
    import torch

    from denoise import checkpoint, inference

    torch.set_num_threads(spec["threads"])
    model = checkpoint.load(spec["model"], spec["domain"], 1, "cpu")  # channels-last on the CPU
    if spec["layout"] == "nchw":
        model = model.to(memory_format=torch.contiguous_format)
    rng = np.random.default_rng(0)
    if spec["domain"] == "image":
        x = rng.random((spec["side"], spec["side"])).astype(np.float32)
        run = lambda: inference.denoise_image_array(model, x, tile=spec["tile"], batch_size=spec["batch"])  # noqa: E731
    else:
        x = (rng.standard_normal(16000 * AUDIO_SECONDS) * 0.1).astype(np.float32)
        run = lambda: inference.denoise_audio_array(model, x, 16000, batch_size=spec["batch"])  # noqa: E731
    run()
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        y = run()
        times.append(time.perf_counter() - t0)
    np.save(out, y)
    print(json.dumps({"seconds": min(times)}))


def _measure(spec: dict, out: str) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(spec), "--out", out]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"setting {spec} failed (status {status})")
    return {**json.loads(stdout.strip().splitlines()[-1]), "peak_mib": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(json.loads(args.one), args.out)
        return
    import numpy as np

    print(f"# CPU inference settings, machine: {machine().rsplit(',', 1)[0]}, {args.threads} thread(s)\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows, first = [], {}
        for side, layout, tile, batch in IMAGE_ROWS:
            spec = dict(domain="image", model="image-gray", side=side, layout=layout, tile=tile, batch=batch,
                        threads=args.threads)
            out = str(Path(tmp) / f"{len(rows)}.npy")
            r = _measure(spec, out)
            first.setdefault(side, out)
            diff = float(np.abs(np.load(out) - np.load(first[side])).max())
            rows.append({"image": f"{side}²", "weights": layout, "tile": tile, "batch": batch,
                         "CPU s / image": r["seconds"], "CPU s / 512² px": r["seconds"] / (side / 512) ** 2,
                         "peak MiB": round(r["peak_mib"]), "max |diff|": f"{diff:.1e}"})
        print(f"image-gray:\n\n{table(rows)}\n")
        rows, first_out = [], None
        for layout, batch in AUDIO_ROWS:
            spec = dict(domain="audio", model="audio-speech", layout=layout, batch=batch, threads=args.threads)
            out = str(Path(tmp) / f"a{len(rows)}.npy")
            r = _measure(spec, out)
            first_out = first_out or out
            diff = float(np.abs(np.load(out) - np.load(first_out)).max())
            rows.append({"audio": f"{AUDIO_SECONDS} s", "weights": layout, "batch (chunks)": batch,
                         "CPU s": r["seconds"], "x real time": AUDIO_SECONDS / r["seconds"],
                         "peak MiB": round(r["peak_mib"]), "max |diff|": f"{diff:.1e}"})
        print(f"audio-speech:\n\n{table(rows, floats=1)}\n")


if __name__ == "__main__":
    main()
