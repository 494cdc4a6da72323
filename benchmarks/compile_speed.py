"""torch.compile against eager PyTorch: time per forward pass of one 512x512 tile (image models) or one 10 s
chunk (audio-speech), the fastest of 8 passes each, the compile time of the first pass, and the largest difference in the output.
Decides the default of --compile. The compile cache starts empty (a fresh TORCHINDUCTOR_CACHE_DIR), as on
a machine's first run; later runs reuse the cache and compile in a few seconds.

    python benchmarks/compile_speed.py                 # the CPU
    python benchmarks/compile_speed.py --device cuda
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor-"))  # before torch: cold

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, machine, parser, table  # noqa: E402

from denoise import checkpoint  # noqa: E402
from denoise.device import autocast  # noqa: E402


def _time(model: torch.nn.Module, x: torch.Tensor) -> float:
    """The fastest of 8 passes after a first one (``best_time``): the least disturbed by other work."""
    def once() -> None:
        with torch.inference_mode(), autocast(x.device):
            model(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()

    return best_time(once, repeat=8)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine()}; device {device}\n")
    rows = []
    for name in ("image-gray", "image-photo", "audio-speech"):
        model = checkpoint.load(name, device=device).eval()
        if model.domain == "image":
            x = torch.rand(1, model.config.channels, 512, 512, device=device)
        else:
            x = torch.randn(1, 160000, device=device) * 0.05
        eager = _time(model, x)
        fast = torch.compile(model)
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast(device):
            fast(x)
        first = time.perf_counter() - t0
        compiled = _time(fast, x)
        with torch.inference_mode(), autocast(device):
            diff = float((fast(x).float() - model(x).float()).abs().max())
        rows.append({"model": name, "input": "512x512 tile" if model.domain == "image" else "10 s chunk",
                     "eager ms": 1000 * eager, "compiled ms": 1000 * compiled, "saving %": 100 * (1 - compiled / eager),
                     "compile s": first,
                     "passes to repay": f"{first / (eager - compiled):.0f}" if compiled < eager else "never",
                     "max difference": f"{diff:.1e}"})
    print(table(rows, floats=1))


if __name__ == "__main__":
    main()
