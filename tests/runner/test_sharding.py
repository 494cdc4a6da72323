"""Sharded inference: the split itself, and real process groups (Gloo on the CPU, plain and under torchrun)
in which every input must be written exactly once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise.runner.sharding import Shard, share
from tests.conftest import write_image


def test_the_split_is_a_partition_balanced_by_size():
    sizes = [9.0, 1.0, 1.0, 5.0, 4.0, 3.0, 3.0, 2.0, 0.0]
    items = list(range(len(sizes)))
    parts = [share(items, sizes, Shard(r, 3)) for r in range(3)]
    assert sorted(sum(parts, [])) == items  # each item on exactly one rank
    loads = [sum(sizes[i] for i in p) for p in parts]
    assert sorted(loads) == [9, 9, 10]  # 28 in all: as even as whole items allow
    assert parts == [share(items, sizes, Shard(r, 3)) for r in range(3)]  # the same on every call
    assert share(items, sizes, Shard()) == items


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pictures(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    return [write_image(folder / f"{i:03d}.png", (rng.random((int(rng.integers(20, 70)),) * 2) * 255).astype(np.uint8))
            for i in range(n)]


def _written(logs: list[str]) -> list[list[str]]:
    """Per process, the inputs it wrote (from its -v lines)."""
    return [re.findall(r"INFO: denoise: (\S+) -> ", log) for log in logs]


def _two_ranks(tmp_path: Path, args: list[str]) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
               "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}
        procs.append(subprocess.Popen([sys.executable, "-m", "denoise", *map(str, args), "-v"], cwd=tmp_path, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]


@pytest.mark.slow
def test_two_gloo_ranks_write_every_file_once_and_rank_0_sums_up(tmp_path, gray_ckpt):
    inputs = _pictures(tmp_path / "in", 12)
    (tmp_path / "in" / "broken.png").write_bytes(b"junk")  # fails on whichever rank gets it
    done = _two_ranks(tmp_path, ["image", "in", "-o", "out", "--model", gray_ckpt])
    assert [p.returncode for p in done] == [1, 1], done[0].stderr + done[1].stderr  # a failure on any rank
    per_rank = _written([p.stderr for p in done])
    assert all(per_rank) and not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == sorted(f"in/{p.name}" for p in inputs)
    assert "12 done, 1 failed, 0 skipped" in done[0].stderr and "on 2 ranks" in done[0].stderr
    assert "done," not in done[1].stderr  # the summary comes from rank 0 alone
    # resume: remove a few outputs as a killed job would have left them missing
    for name in ("000.png", "005.png", "007.png"):
        (tmp_path / "out" / name).unlink()
    done = _two_ranks(tmp_path, ["image", "in", "-o", "out", "--model", gray_ckpt, "--skip-existing"])
    assert sorted(sum(_written([p.stderr for p in done]), [])) == ["in/000.png", "in/005.png", "in/007.png"]
    assert "3 done, 1 failed, 9 skipped" in done[0].stderr


@pytest.mark.slow
def test_two_torchrun_nodes_on_localhost(tmp_path, gray_ckpt):
    inputs = _pictures(tmp_path / "in", 8)
    port = _free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "denoise-test",
           "-m", "denoise", "image", "in", "-o", "out", "--model", str(gray_ckpt), "-v"]
    nodes = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    logs = [(n.wait(timeout=300), n.stderr.read()) for n in nodes]
    assert [code for code, _ in logs] == [0, 0], logs
    per_node = _written([log for _, log in logs])
    assert sorted(per_node[0] + per_node[1]) == sorted(f"in/{p.name}" for p in inputs)
    assert all(per_node) and not set(per_node[0]) & set(per_node[1])
    assert sum("8 done, 0 failed, 0 skipped" in log for _, log in logs) == 1


@pytest.mark.slow
def test_json_under_two_ranks_has_one_summary_of_every_file(tmp_path, gray_ckpt):
    import json

    _pictures(tmp_path / "in", 6)
    done = _two_ranks(tmp_path, ["image", "in", "-o", "out", "--model", gray_ckpt, "--json"])
    assert [p.returncode for p in done] == [0, 0], done[0].stderr + done[1].stderr
    lines = [json.loads(line) for p in done for line in p.stdout.splitlines()]
    summaries = [x["summary"] for x in lines if "summary" in x]
    assert summaries == [{"done": 6, "failed": 0, "skipped": 0, "seconds": summaries[0]["seconds"], "ranks": 2}]
    assert sorted(x["input"] for x in lines if "input" in x) == [f"in/{i:03d}.png" for i in range(6)]


def test_a_pipe_under_torchrun_is_refused(gray_ckpt, monkeypatch):
    from tests.conftest import run

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    r = run("image", "-", "-o", "-", "--model", str(gray_ckpt))
    assert r.exit_code == 2 and "without torchrun" in r.output
