import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from denoise import device
from denoise.cli import cli

# In fresh child processes, one with glibc's defaults and one with reuse (the test process itself may have
# either): frees and re-allocates a 64 MiB tensor (about one audio training activation) and counts the page
# faults of the re-allocations.
FAULTS = """
import json, resource, sys, torch
from denoise.device import reuse_freed_cpu_memory
applied = reuse_freed_cpu_memory() if sys.argv[1] == "reuse" else False
for _ in range(10):  # glibc grows its heap a few times (alignment) before the freed blocks fit
    torch.ones(16 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(16 << 20)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(arm: str) -> dict:
    out = subprocess.run([sys.executable, "-c", FAULTS, arm], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_freed_cpu_memory_is_reused_instead_of_faulted_in_again():
    system, reuse = _faults("system"), _faults("reuse")
    if not reuse["applied"]:
        pytest.skip("not a glibc that accepts a large mmap threshold")
    pages = 5 * (64 << 20) // 4096
    assert system["faults"] > pages / 2  # glibc's default: each 64 MiB block is mapped and faulted in anew
    assert reuse["faults"] < pages / 50  # reused: the pages are already there


def test_malloc_settings_from_the_environment_are_left_alone(monkeypatch):
    # returns before calling mallopt, so this can run in the test process itself
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert device.reuse_freed_cpu_memory() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")
    assert device.reuse_freed_cpu_memory() is False


def test_commands_that_run_a_model_ask_for_it(tmp_path, gray_ckpt, monkeypatch):
    calls = []
    monkeypatch.setattr(device, "reuse_freed_cpu_memory", lambda: calls.append(1) or False)
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(tmp_path / "a.png")
    r = CliRunner().invoke(cli, ["image", str(tmp_path / "a.png"), "--model", str(gray_ckpt), "-q"])
    assert r.exit_code == 0, r.output
    assert calls == [1]
    r = CliRunner().invoke(cli, ["train", "--domain", "image", "--data", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 1 and calls == [1, 1]  # asked for before the data are looked at
    CliRunner().invoke(cli, ["models"])  # runs no model: leaves malloc alone
    assert calls == [1, 1]


# ------------------------------------------------------------------------- threads
def test_small_passes_run_on_one_thread_and_large_ones_on_the_free_cores(monkeypatch, gray_ckpt):
    import numpy as np
    import torch

    from denoise import checkpoint
    from denoise.device import SMALL_PASS_VALUES, free_cpus, threads_for
    from denoise.image.arrays import denoise_image_array

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DENOISE_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    try:
        assert threads_for(64 * 64 * 3) == 1
        assert 1 <= threads_for(SMALL_PASS_VALUES) <= max(1, free_cpus(), torch.get_num_threads(), 64)
        m = checkpoint.load(str(gray_ckpt), domain="image")
        denoise_image_array(m, np.zeros((32, 32), np.float32))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_free_cores_are_those_other_work_runs_on_now_not_in_the_last_minute(monkeypatch):
    """The 1-minute load average still counts a command that just ended: a shell loop over files would
    get one thread on an idle machine. The cores busy now are counted instead, where they can be."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cpus), float(cpus), float(cpus)))
    monkeypatch.setattr(device, "others_busy", lambda cpus: 0.2)
    assert device.free_cpus() == cpus
    monkeypatch.setattr(device, "others_busy", lambda cpus: len(cpus) + 3.0)
    assert device.free_cpus() == 1
    monkeypatch.setattr(device, "others_busy", lambda cpus: None)  # nothing to count: the load average
    assert device.free_cpus() == 1


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux counts")
def test_a_busy_process_beside_counts_as_a_busy_core():
    from denoise.device import others_busy

    allowed = set(os.sched_getaffinity(0))
    core = min(allowed)
    spin = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"])
    try:
        time.sleep(0.5)
        assert others_busy(allowed, window=0.3) >= 0.6
        assert others_busy({core}, window=0.3) >= 0.6  # counted on the core it runs on
    finally:
        spin.kill()
        spin.wait()


def test_a_thread_count_the_user_chose_is_kept(monkeypatch):
    import torch

    from denoise.device import use_cpu_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        use_cpu_threads(1)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("DENOISE_THREADS", "1")
        use_cpu_threads(2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_compiling_on_a_cpu_silences_the_no_cuda_notice(monkeypatch):
    """torch.compile's C++ builder logs "No CUDA runtime is found" on a CPU-only machine: noise to a user."""
    import logging

    import torch

    from denoise.device import compiled

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    logger = logging.getLogger("torch.utils.cpp_extension")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    compiled(torch.nn.Linear(2, 2))  # compiles lazily: nothing is built here
    assert logger.level >= logging.ERROR
