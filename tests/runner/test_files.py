"""denoise.runner.files: runs that share an output folder split the work (claims)."""

import os
import subprocess
import sys

from denoise import checkpoint, io
from denoise.runner.files import denoise_paths
from tests.conftest import gray_pngs


def _claim_as(dst, pid: int) -> None:
    io.claim_path(dst).write_text(f"{pid} {io.MACHINE_ID}\n")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _jobs(tmp_path, n=3):
    gray_pngs(tmp_path / "in", n=n)
    return [io.Job(tmp_path / "in" / f"{i}.png", tmp_path / "out" / f"{i}.png") for i in range(n)]


def test_a_file_another_live_run_is_computing_is_skipped_not_computed_twice(tmp_path, gray_ckpt):
    jobs = _jobs(tmp_path)
    (tmp_path / "out").mkdir()
    _claim_as(jobs[1].dst, os.getppid())  # a live process (pytest's parent) is writing 1.png
    m = checkpoint.load(str(gray_ckpt), domain="image")
    results = {r.src.name: r for r in denoise_paths(m, jobs, skip_existing=True)}
    assert results["1.png"].status == "skipped" and "another run" in results["1.png"].reason
    assert not jobs[1].dst.exists()
    assert results["0.png"].status == results["2.png"].status == "done"
    assert io.claim_path(jobs[1].dst).exists()  # the other run's claim is left alone
    assert not io.claim_path(jobs[0].dst).exists()  # ours are released


def test_the_claim_of_a_dead_run_is_taken_over(tmp_path, gray_ckpt):
    jobs = _jobs(tmp_path, n=1)
    (tmp_path / "out").mkdir()
    _claim_as(jobs[0].dst, _dead_pid())
    m = checkpoint.load(str(gray_ckpt), domain="image")
    (r,) = denoise_paths(m, jobs, skip_existing=True)
    assert r.status == "done" and not io.claim_path(jobs[0].dst).exists()


def test_claims_are_only_taken_with_skip_existing(tmp_path, gray_ckpt):
    jobs = _jobs(tmp_path, n=1)
    (tmp_path / "out").mkdir()
    _claim_as(jobs[0].dst, os.getppid())
    m = checkpoint.load(str(gray_ckpt), domain="image")
    (r,) = denoise_paths(m, jobs)
    assert r.status == "done"


def test_a_claim_in_an_output_folder_that_does_not_exist_yet(tmp_path, gray_ckpt):
    jobs = [io.Job(j.src, tmp_path / "new" / "deeper" / j.dst.name) for j in _jobs(tmp_path, n=1)]
    m = checkpoint.load(str(gray_ckpt), domain="image")
    (r,) = denoise_paths(m, jobs, skip_existing=True)
    assert r.status == "done" and jobs[0].dst.is_file()
