"""What every command shares: logging to stderr, one-line errors with the exit codes, loading a model,
the options that read the same everywhere, and tables."""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import click

log = logging.getLogger("denoise")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def setup_logging(quiet: bool, verbose: bool, default: int = logging.WARNING) -> None:
    """Library messages go to stderr: warnings by default, everything with -v, errors only with -q."""
    if quiet and verbose:
        fail("-q and -v contradict each other")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s" if verbose else "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("denoise").setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else default)


def stdout_gone(message: str = "") -> NoReturn:
    """The reader of stdout went away (``| head``): nothing more can be said there, and Python's own flush
    at exit must not complain either. ``message`` (one line) goes to stderr; the status is 141."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    if message:
        click.echo(message, err=True)
    raise SystemExit(EXIT_PIPE)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def load_model(name: str, domain: str, device: str, channels: int = 1, compile: bool = False) -> Any:
    from denoise.checkpoint import CheckpointError, load
    from denoise.device import DeviceError, compiled, pick_device, reuse_freed_cpu_memory

    reuse_freed_cpu_memory()  # CPU inference: about a quarter less time (benchmarks/cpu_allocator.py)
    try:
        dev = pick_device(device)
        model = load(name, domain=domain, channels=channels, device=dev)
    except (CheckpointError, DeviceError) as exc:
        fail(str(exc))
    return compiled(model) if compile else model


# Options every command shares, defined once so that their help reads the same everywhere.
device_option = click.option("--device", default="auto", show_default=True,
                              help="auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only print errors.")
verbose_option = click.option("-v", "--verbose", is_flag=True, help="Print details and tracebacks.")


def table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    fmt = lambda v: "–" if v is None else f"{v:.4f}" if isinstance(v, float) and abs(v) < 2 else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float, type(None))) for r in rows) for c in cols]
    align = lambda v, w, num: v.rjust(w) if num else v.ljust(w)  # noqa: E731  numbers right, words left
    lines = ["  ".join(align(c, w, num) for c, w, num in zip(cols, widths, numeric))]
    lines += ["  ".join(align(v, w, num) for v, w, num in zip(row, widths, numeric)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
