"""What a larger image model would cost at inference: parameters, checkpoint size, convolution
multiply-accumulates per pixel and CPU time per 512x512 gray image, for sizes of the shipped `dae`.

The issue-3 speed target (a 512x512 gray image well under BM3D's CPU time, 4.16 s here) caps the
per-pixel cost of any model trained to close the quality gap, and the 20 MB checkpoint cap its size:
this table says which sizes stay inside both before a long (GPU) training run is spent on one.
Untrained weights: the cost does not depend on them.

    python benchmarks/model_size.py                 # the default candidates, timed
    python benchmarks/model_size.py --no-time       # parameters and MACs only (instant)
    python benchmarks/model_size.py --arch-args '{"width": 40, "depth": 3}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine, macs_per_pixel, parser, table  # noqa: E402

from denoise import checkpoint  # noqa: E402
from denoise.image import arrays  # noqa: E402
from denoise.config import ModelConfig  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.models import build_model, count_parameters  # noqa: E402

# each candidate changes one argument of the shipped image-gray's (and one more level: depth + 1)
CHANGES = [{"width": 48}, {"width": 64}, {"latent_blocks": 6}, {"blocks": 2}]


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--arch-args", action="append", default=None,
                    help="JSON constructor arguments of a `dae` to measure (repeatable; default: the candidates).")
    ap.add_argument("--no-time", action="store_true", help="Skip the CPU timing.")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the timing (default 1).")
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    torch.set_num_threads(args.threads)
    if args.arch_args:
        configs = [("given", json.loads(a)) for a in args.arch_args]
    else:  # read from the checkpoint, so the first row stays the shipped model whatever it becomes
        shipped = checkpoint.load("image-gray").config.args
        changes = CHANGES + [{"depth": shipped["depth"] + 1}]
        configs = [("shipped image-gray", shipped)] + [("candidate", {**shipped, **c}) for c in changes]
    print(f"# Image model sizes (gray, untrained), machine: {machine()}\n")
    img = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    rows = []
    for label, arch_args in configs:
        model = build_model(ModelConfig(arch="dae", domain="image", channels=1, args=arch_args)).eval()
        n = count_parameters(model)
        row = {"model": label, "dae arguments": json.dumps(arch_args, sort_keys=True), "params": f"{n:,}",
               "MB (float32)": n * 4 / 1e6, "kMAC / pixel": macs_per_pixel(model) / 1e3}
        if not args.no_time:
            row["CPU s / 512² image"] = best_time(lambda m=model: arrays.denoise_image_array(m, img), 2)
        rows.append(row)
    print(table(rows))


if __name__ == "__main__":
    main()
