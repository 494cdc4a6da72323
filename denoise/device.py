"""Device choice, mixed precision and seeding."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import time
from pathlib import Path
from typing import ContextManager, Optional

import numpy as np
import torch

from denoise.config import PRECISIONS


log = logging.getLogger(__name__)


class DeviceError(ValueError):
    pass


def pick_device(name: Optional[str] = "auto") -> torch.device:
    """"auto" -> CUDA, then MPS, then CPU. Explicit names are checked so a typo or a missing GPU gives a
    clear error instead of a crash deep inside torch."""
    name = name or "auto"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for but is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{name}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("MPS was asked for but is not available")
    return dev


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the ways running out of memory surfaces: CUDA's ``torch.OutOfMemoryError``, numpy's
    ``MemoryError``, and the plain RuntimeErrors of torch's CPU allocator ("can't allocate memory") and
    of MPS ("MPS backend out of memory")."""
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bf16_instructions(cpuinfo: str | Path = "/proc/cpuinfo") -> Optional[list[str]]:
    """The bf16 instruction sets this CPU lists (of ``BF16_CPU_FLAGS``), or None where that cannot be read
    (not Linux). Without them oneDNN emulates bf16, and a bf16 training step takes 3 to 15 times as long as
    a float32 one instead of half: 3 with AVX512, 14 to 15 with AVX2 alone (benchmarks/README.md,
    train_speed)."""
    try:
        with open(cpuinfo) as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return None
    return [f for f in BF16_CPU_FLAGS if f in flags]


def autocast_dtype(device: torch.device, precision: str = "auto") -> Optional[torch.dtype]:
    """The autocast dtype for ``precision`` on ``device``, or None for plain float32.

    "auto" is bf16 on CUDA where supported (fp16 otherwise) and float32 elsewhere, which keeps CPU results
    exact and deterministic. "bf16" asks for bfloat16 on any device: on CPUs with AVX512-BF16 it about
    halves the time of a dae training step but not of a naf's (none faster on one thread, 1.5 times as long
    on two), on CPUs without it triples it or worse (see `benchmarks/train_speed.py`)."""
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r} (use one of {', '.join(PRECISIONS)})")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def bf16_emulated(device: torch.device, dtype: Optional[torch.dtype]) -> bool:
    """True where ``dtype`` (an `autocast_dtype` result) is bf16 on a CPU known to lack bf16 instructions:
    there a bf16 step is slower than a float32 one, which a user asking for bf16 should be told."""
    return dtype == torch.bfloat16 and device.type == "cpu" and cpu_bf16_instructions() == []


def autocast(device: torch.device, precision: str = "auto") -> ContextManager:
    """Mixed precision for ``precision`` on ``device`` (see `autocast_dtype`)."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def reuse_freed_cpu_memory() -> bool:
    """Has glibc's malloc keep freed memory for the next tensor instead of giving it back to the kernel.

    By default glibc maps every block over 32 MiB fresh from the kernel and unmaps it when freed, so each
    large CPU tensor costs one page fault per 4 KiB it touches, paid again at every training step or tile:
    with an audio training batch (16 x 24 channels x 257 x 251 float32, about 100 MB per activation) a step
    takes twice as long as with the blocks reused (``benchmarks/cpu_allocator.py``). Raising the mmap and trim
    thresholds to 2 GiB serves those blocks from the heap and keeps them; the cost is that the process
    holds on to its peak memory until it exits, which suits a command that ends with its job.

    Process-wide, so the command line calls it, not the library. Returns True where it took effect: a glibc
    (Linux) whose mallopt accepts an mmap threshold over 32 MiB (2.36 does; one that caps it refuses, and
    then nothing is changed), and only where the user has set neither ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` nor malloc ``GLIBC_TUNABLES``, which then rule. Elsewhere (macOS, Windows,
    musl) nothing changes."""
    if any(name in os.environ for name in _MALLOC_ENV) or "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        log.debug("malloc settings come from the environment; leaving them")
        return False
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    large = 2**31 - 1
    if mallopt(_M_MMAP_THRESHOLD, large) != 1:  # this glibc caps it at 32 MiB, which gains nothing
        return False
    mallopt(_M_TRIM_THRESHOLD, large)
    log.debug("malloc keeps freed memory for reuse (mmap and trim thresholds 2 GiB)")
    return True


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` through torch.compile (its attributes still readable through the wrapper). The first
    forward pass of each new input shape compiles: on a 2-core CPU 2 to 13 s, after which a 512-pixel tile
    or a 10 s chunk took 6 to 15 % less time (benchmarks/compile_speed.py): it repays itself after 90 to
    600 passes, so it pays only on long runs and stays off unless asked for."""
    log.info("compiling the model with torch.compile (the first pass of each input shape is slow)")
    if not torch.cuda.is_available():  # inductor's "No CUDA runtime is found" notice says nothing to a CPU user
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(model)



# ----------------------------------------------------------------------------------------- CPU threads
# Values per batch item below which a forward pass runs on one thread: splitting a small tile or a
# streaming block across threads costs more in synchronisation than it saves, and on a machine that is
# busy otherwise the extra threads wait for cores (benchmarks/threads.py: 200 pictures of 64², a 5 s stream).
SMALL_PASS_VALUES = 192 * 192 * 3
_USER_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DENOISE_THREADS")


def user_set_threads() -> bool:
    """Whether the user chose the thread count (OMP_NUM_THREADS, MKL_NUM_THREADS or DENOISE_THREADS): then
    it is left alone."""
    return any(os.environ.get(v) for v in _USER_THREAD_VARS)


def others_busy(cpus: set[int], window: float = 0.1) -> Optional[float]:
    """How many of the cores ``cpus`` (their numbers) other processes keep busy now: the CPU time those
    cores spent working over ``window`` seconds (``/proc/stat``: user, nice, system, irq, softirq) less
    this process's own (``/proc/self/stat``; its file decoders compete for nothing another job holds), in
    cores. Only these cores: in a container pinned to 4 of a host's 64, the host's other work does not
    count. A steady job counts in full, a thread that wakes for a moment for that moment only. None where
    the counts are not available (macOS, Windows)."""
    try:
        before = _cpu_ticks(cpus)
        time.sleep(window)
        after = _cpu_ticks(cpus)
    except (OSError, ValueError, IndexError):
        return None
    busy, total, own = (b - a for a, b in zip(before, after))
    return max(0.0, (busy - own) / total * len(cpus)) if total > 0 else 0.0  # total: len(cpus) x the time


def _cpu_ticks(cpus: set[int]) -> tuple[int, int, int]:
    """(working ticks of the cores ``cpus``, all their ticks, this process's ticks) since boot."""
    busy = total = 0
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *fields = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                continue
            user, nice, system, idle, iowait, irq, softirq = (int(v) for v in fields[:7])
            working = user + nice + system + irq + softirq
            busy, total = busy + working, total + working + idle + iowait
    with open("/proc/self/stat", encoding="ascii") as f:
        utime, stime = (int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
    return busy, total, utime + stime


def free_cpus() -> int:
    """The cores this process may use that other work is not using now: the CPUs it is allowed on, less
    the cores other work keeps busy now (:func:`others_busy`, rounded; elsewhere the 1-minute load
    average), at least 1. On a busy machine, more threads than free cores make each pass wait for a core.
    The load average is a trailing mean: it still counts a job for a minute after it ended, so a command
    run right after another (a shell loop over files) would get one thread on an idle machine."""
    try:
        allowed = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = set(range(os.cpu_count() or 1))
    cpus = len(allowed)
    others = others_busy(allowed)
    if others is None:
        try:
            others = os.getloadavg()[0]
        except (AttributeError, OSError):
            others = 0.0
    busy = round(others)
    return max(1, min(cpus, cpus - busy))


def threads_for(values_per_item: int) -> int:
    """The intra-op threads for a CPU forward pass whose batch items hold ``values_per_item`` values: one
    for small work (tiny pictures, streaming blocks), else the free cores (measured once per process)."""
    if values_per_item < SMALL_PASS_VALUES:
        return 1
    global _FREE
    if _FREE is None:
        _FREE = free_cpus()
    return _FREE


_FREE: Optional[int] = None


def use_cpu_threads(n: int) -> None:
    """Sets torch's intra-op threads to ``n`` unless the user chose them (:func:`user_set_threads`);
    DENOISE_THREADS, when set, is the count."""
    if os.environ.get("DENOISE_THREADS"):
        n = max(1, int(os.environ["DENOISE_THREADS"]))
    elif user_set_threads():
        return
    if torch.get_num_threads() != n:
        log.debug("CPU threads: %d", n)
        torch.set_num_threads(n)
