"""Peak memory of `denoise image` on one picture, against its size and --batch-size.

Each row runs the command in a child process on a random colour PNG of that many megapixels (random
pixels: time and memory do not depend on them) and reads the kernel's peak resident memory for that
process alone (``os.wait4``). The model's activations for a batch of 512-pixel tiles make a fixed part;
the image itself (input, output, blend weights and the tiles' source, in float32) grows with its size.

    python benchmarks/image_memory.py                      # 1, 3 and 12 megapixels, batch 1
    python benchmarks/image_memory.py --sizes 4 --batch-sizes 1 4 16
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, peak_rss_run, table  # noqa: E402


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 3, 12], help="Megapixels (4:3 pictures).")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    ap.add_argument("--model", default="image-color")
    args = ap.parse_args()
    from PIL import Image

    denoise = shutil.which("denoise") or sys.exit("the denoise command is not on PATH (pip install -e .)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.sizes:
            w = int(round((mp * 1e6 * 4 / 3) ** 0.5))
            h = int(round(mp * 1e6 / w))
            src = Path(tmp) / f"{mp:g}mp.png"
            Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src)
            for batch in args.batch_sizes:
                seconds, status, peak = peak_rss_run([denoise, "image", str(src), "-o", str(Path(tmp) / "out.png"),
                                                      "--overwrite", "-q", "--model", args.model,
                                                      "--batch-size", str(batch)])
                rows.append({"picture": f"{w}x{h} ({mp:g} MP)", "--batch-size": batch,
                             "peak memory (GiB)": peak / 1024, "seconds": seconds, "exit": status})
    print(f"# Peak memory of `denoise image`, model {args.model}; machine: {machine()}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
