"""The measurements of `benchmarks/gpu_check.sh` that need Python: CUDA against CPU agreement (bf16 and
fp32), model-only throughput over a batch-size sweep, and peak GPU memory. Prints Markdown.

    python benchmarks/gpu_check.py            # needs CUDA
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

from denoise import checkpoint, inference, metrics  # noqa: E402
from denoise.device import autocast  # noqa: E402


def _run(model: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
    device = next(model.parameters()).device
    with torch.inference_mode(), autocast(device, precision):
        return model(x.to(device)).float().cpu()


def agreement() -> list[dict]:
    """PSNR (images) / SI-SDR (audio) of the CUDA output against the CPU's, per precision."""
    rng = np.random.default_rng(0)
    rows = []
    for name in ("image-gray", "image-photo", "audio-speech"):
        cpu = checkpoint.load(name).eval()
        gpu = checkpoint.load(name, device="cuda").eval()
        if cpu.domain == "image":
            x = torch.from_numpy(rng.random((4, cpu.config.channels, 256, 256), np.float32))
        else:
            x = torch.from_numpy((rng.standard_normal((4, 16000 * 4)) * 0.05).astype(np.float32))
        ref = _run(cpu, x, "fp32")
        for precision in ("fp32", "bf16"):
            out = _run(gpu, x, precision)
            if cpu.domain == "image":
                score = metrics.psnr(np.clip(out.numpy(), 0, 1), np.clip(ref.numpy(), 0, 1))
                rows.append({"model": name, "precision": precision, "PSNR CUDA vs CPU (dB)": score,
                             "SI-SDR CUDA vs CPU (dB)": None})
            else:
                score = float(np.mean([metrics.si_sdr(o, r) for o, r in zip(out.numpy(), ref.numpy())]))
                rows.append({"model": name, "precision": precision, "PSNR CUDA vs CPU (dB)": None,
                             "SI-SDR CUDA vs CPU (dB)": score})
    return rows


def _timed(fn, repeat: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeat


def throughput() -> list[dict]:
    """Model-only speed on the GPU (bf16 autocast, inputs already on the device), and peak memory."""
    rows = []
    for name, batches in (("image-gray", (1, 8, 32, 64)), ("image-photo", (1, 8, 32)), ("audio-speech", (1, 16, 64, 256))):
        model = checkpoint.load(name, device="cuda").eval()
        for b in batches:
            torch.cuda.reset_peak_memory_stats()
            if model.domain == "image":
                x = torch.rand(b, model.config.channels, 512, 512, device="cuda")
                unit = b * 512 * 512 / 1e6
            else:
                x = torch.randn(b, 16000 * 10, device="cuda") * 0.05
                unit = b * 10.0
            seconds = _timed(lambda: inference._run_batch(model, x, x.device))
            rows.append({"model": name, "batch": b, "MP/s": unit / seconds if model.domain == "image" else None,
                         "x real time": unit / seconds if model.domain == "audio" else None,
                         "peak GPU memory (GiB)": torch.cuda.max_memory_allocated() / 2**30})
    return rows


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check.py needs CUDA")
    print(f"### {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    print("#### CUDA against CPU\n")
    print(table(agreement(), floats=1))
    print("\n#### Model only (bf16 autocast, 512x512 tiles / 10 s chunks)\n")
    print(table(throughput(), floats=1))


if __name__ == "__main__":
    main()
