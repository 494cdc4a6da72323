"""Helpers shared by the benchmark scripts: options, data location, timing, tables."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose ``--help`` description is the script docstring's first paragraph."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0])


def data_root(arg: str | None) -> Path:
    root = Path(arg or os.environ.get("DENOISE_DATA", DEFAULT_DATA))
    if not root.is_dir():
        raise SystemExit(f"data folder {root} not found: pass --data-root (see README, 'Benchmarks')")
    return root


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread(s)")


def best_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Fastest of ``repeat`` runs after one warm-up: the least disturbed by other work on the machine."""
    return best_times({"": fn}, repeat)[""]


def best_times(fns: dict[str, Callable[[], Any]], repeat: int = 5) -> dict[str, float]:
    """The fastest of ``repeat`` runs of each function after one warm-up round, the functions taking turns
    (one run of each per round): on a shared VM a slow spell then falls on every variant alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def peak_rss_run(cmd: list[str]) -> tuple[float, int, float]:
    """Runs ``cmd``; returns (wall seconds, exit status, peak RSS in MiB of that process alone)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, proc.returncode, usage.ru_maxrss / 1024.0  # Linux: ru_maxrss is in KiB


def table(rows: Sequence[dict[str, Any]], floats: int = 2) -> str:
    cols = list(rows[0])
    fmt = lambda v: (f"{v:.{floats}f}" if isinstance(v, float) else "–" if v is None else str(v))  # noqa: E731
    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    head = "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join([head, sep, *body])


def fit(y: np.ndarray, n: int) -> np.ndarray:
    """1-D ``y`` cut or zero-padded to ``n`` samples."""
    y = np.asarray(y, np.float64).reshape(-1)
    return np.pad(y, (0, n - len(y))) if len(y) < n else y[:n]


def align(y: np.ndarray, ref: np.ndarray, sr: int) -> np.ndarray:
    """``y`` shifted by the lag within ±50 ms that best matches ``ref`` (peers add a constant delay), cut or
    padded to its length; the lag is found by FFT cross-correlation."""
    y, n, most = fit(y, len(ref)), len(ref), sr // 20
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.r_[np.arange(0, most + 1), np.arange(-most, 0)]
    lag = int(lags[np.argmax(corr[lags])])
    return fit(y[lag:], n) if lag >= 0 else fit(np.pad(y, (-lag, 0)), n)


def coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise of n samples whose power falls as f^-exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    x = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def macs(model: Any, x: Any) -> float:
    """Multiply-accumulates of every Conv2d / ConvTranspose2d / Linear / GRU in one forward pass of
    ``model`` on ``x``. Activations, normalisations, additions and padding are left out: the
    convolutions, products and recurrences dominate the time."""
    import torch
    from torch import nn

    total = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.GRU):  # three gates, each an input and a hidden product per frame
            total += 3 * inp[0].shape[0] * inp[0].shape[1] * mod.hidden_size * (mod.input_size + mod.hidden_size)
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features
        elif isinstance(mod, nn.ConvTranspose2d):  # every input value is spread over a kh x kw x C_out patch
            total += inp[0].numel() * mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels // mod.groups
        else:  # every output value sums a kh x kw x C_in / groups window
            total += out.numel() * mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.GRU))]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return float(total)


def macs_per_pixel(model: Any, size: int = 64, channels: int = 1) -> float:
    """:func:`macs` for one (1, channels, size, size) input, per input pixel."""
    import torch

    return macs(model, torch.zeros(1, channels, size, size)) / (size * size)
