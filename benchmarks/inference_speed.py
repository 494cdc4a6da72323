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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine, peak_rss_run, table  # noqa: E402

IMAGE_ROWS = [  # (side, layout, tile, batch)
    (512, "nchw", 256, 8), (512, "channels_last", 256, 8), (512, "nchw", 512, 8), (512, "channels_last", 512, 8),
    (512, "channels_last", 512, 1),
    (2048, "nchw", 256, 8), (2048, "channels_last", 256, 8), (2048, "channels_last", 512, 8),
    (2048, "channels_last", 512, 1),
]
AUDIO_ROWS = [("nchw", 4), ("channels_last", 4), ("channels_last", 1)]  # (layout, batch)
AUDIO_SECONDS = 60


def _one(spec: dict, out: str) -> None:
    """Child process: times one setting (best of two after a warm-up) and saves its output (``out``.npy)
    and time (``out``.json) for the parent."""
    import numpy as np
    import torch

    from denoise import checkpoint
    from denoise.audio import chunks
    from denoise.image import arrays
    from denoise.device import reuse_freed_cpu_memory

    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    torch.set_num_threads(spec["threads"])
    model = checkpoint.load(spec["model"], spec["domain"], 1, "cpu")  # channels-last on the CPU
    if spec["layout"] == "nchw":
        model = model.to(memory_format=torch.contiguous_format)
    rng = np.random.default_rng(0)
    if spec["domain"] == "image":
        x = rng.random((spec["side"], spec["side"])).astype(np.float32)
        run = lambda: arrays.denoise_image_array(model, x, tile=spec["tile"], batch_size=spec["batch"])  # noqa: E731
    else:
        x = (rng.standard_normal(16000 * AUDIO_SECONDS) * 0.1).astype(np.float32)
        run = lambda: chunks.denoise_audio_array(model, x, 16000, batch_size=spec["batch"])  # noqa: E731
    outputs = []
    seconds = best_time(lambda: outputs.append(run()), 2)
    np.save(out + ".npy", outputs[-1])
    Path(out + ".json").write_text(json.dumps({"seconds": seconds}))


def _measure(spec: dict, out: str, reference: str) -> tuple[float, float, str]:
    """Runs one setting in a child process writing ``out``.npy/.json: (seconds, peak RSS in MiB from
    ``peak_rss_run``, largest absolute difference from the output saved as ``reference``)."""
    import numpy as np

    _, status, peak_mib = peak_rss_run([sys.executable, __file__, "--one", json.dumps(spec), "--out", out])
    if status != 0:
        raise SystemExit(f"setting {spec} failed (status {status})")
    diff = float(np.abs(np.load(out + ".npy") - np.load(reference + ".npy")).max())
    return json.loads(Path(out + ".json").read_text())["seconds"], peak_mib, f"{diff:.1e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _one(json.loads(args.one), args.out)
        return

    print(f"# CPU inference settings, machine: {machine().rsplit(',', 1)[0]}, {args.threads} thread(s)\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows, first = [], {}  # first: the output of each image size's first row
        for side, layout, tile, batch in IMAGE_ROWS:
            spec = dict(domain="image", model="image-gray", side=side, layout=layout, tile=tile, batch=batch,
                        threads=args.threads)
            out = str(Path(tmp) / f"{len(rows)}")
            seconds, peak, diff = _measure(spec, out, first.setdefault(side, out))
            rows.append({"image": f"{side}²", "weights": layout, "tile": tile, "batch": batch,
                         "CPU s / image": seconds, "CPU s / 512² px": seconds / (side / 512) ** 2,
                         "peak MiB": round(peak), "max |diff|": diff})
        print(f"image-gray:\n\n{table(rows)}\n")
        rows = []
        for layout, batch in AUDIO_ROWS:
            spec = dict(domain="audio", model="audio-speech", layout=layout, batch=batch, threads=args.threads)
            out = str(Path(tmp) / f"a{len(rows)}")
            seconds, peak, diff = _measure(spec, out, str(Path(tmp) / "a0"))
            rows.append({"audio": f"{AUDIO_SECONDS} s", "weights": layout, "batch (chunks)": batch,
                         "CPU s": seconds, "x real time": AUDIO_SECONDS / seconds, "peak MiB": round(peak),
                         "max |diff|": diff})
        print(f"audio-speech:\n\n{table(rows, floats=1)}\n")


if __name__ == "__main__":
    main()
