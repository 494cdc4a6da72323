"""Faults: kill -9 in a batch and in training, a full disk, CUDA out of memory (simulated), determinism,
outputs confined to -o, and no network use."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from denoise import inference, io
from denoise.audio import chunks
from denoise.image import arrays
from denoise.checkpoint import load
from tests.conftest import gray_pngs, run, smooth_image, speechlike

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
# pictures in the killed batch: enough that it is still running when its third output appears (slow_gray is
# slow on purpose), few enough that --skip-existing finishes it in seconds (with 40, the suite's slowest test)
BATCH = 16


def _images(d: Path, n: int, size: int) -> None:
    gray_pngs(d, n, size, random=True, names="{:03d}.png")


def _wait_for(cond, proc, timeout=60.0):
    t0 = time.time()
    while not cond():
        if proc.poll() is not None or time.time() - t0 > timeout:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="module")
def slow_gray(tmp_path_factory):
    """A gray model large enough that a batch of images takes seconds, so a kill lands mid-batch."""
    from denoise.checkpoint import save_checkpoint
    from denoise.config import ModelConfig
    from denoise.models import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(arch="dae", domain="image", channels=1, args={"width": 24, "depth": 2, "blocks": 2})
    path = tmp_path_factory.mktemp("slow") / "slow.pt"
    save_checkpoint(path, build_model(cfg), {"model": cfg.to_dict(), "domain": "image"})
    return path


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_only_complete_files_and_skip_existing_finishes(tmp_path, slow_gray):
    src, out = tmp_path / "in", tmp_path / "out"
    _images(src, BATCH, 256)
    cmd = [sys.executable, "-m", "denoise", "image", str(src), "-o", str(out), "--model", str(slow_gray), "-q"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    visible = lambda: [p for p in out.glob("*.png") if not p.name.startswith(".")] if out.exists() else []  # noqa: E731
    assert _wait_for(lambda: len(visible()) >= 3, proc), "the batch ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in visible()}
    assert 3 <= len(done_before) < BATCH
    for p in visible():  # every visible output is complete
        with Image.open(p) as im:
            im.load()
            assert im.size == (256, 256)
    r = subprocess.run(cmd[:-1] + ["--skip-existing"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{BATCH - len(done_before)} done, 0 failed, {len(done_before)} skipped" in r.stderr
    assert sorted(p.name for p in visible()) == [f"{i:03d}.png" for i in range(BATCH)]
    assert {n: (out / n).stat().st_mtime_ns for n in done_before} == done_before  # not redone
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # stale temporaries cleaned


@pytest.mark.slow
def test_kill_9_mid_training_resumes_from_the_last_checkpoint(tmp_path):
    _images(tmp_path / "data", 4, 48)
    common = [sys.executable, "-m", "denoise", "train", "--domain", "image", "--data", str(tmp_path / "data"),
              "--out", str(tmp_path / "run"), "--arch-args", '{"width": 8}', "--batch-size", "4",
              "--patch-size", "32", "--eval-every", "5", "--workers", "0", "-q"]
    proc = subprocess.Popen(common + ["--steps", "100000"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    hist = tmp_path / "run" / "history.jsonl"
    lines = lambda: hist.read_text().splitlines() if hist.exists() else []  # noqa: E731
    assert _wait_for(lambda: len(lines()) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads(lines()[-1])["step"]
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=True)  # never torn
    assert payload["step"] in (saved, saved + 5)  # killed between checkpoint and history line at worst
    target = payload["step"] + 10
    r = subprocess.run(common + ["--steps", str(target), "--resume"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    steps = [json.loads(line)["step"] for line in lines()]
    assert steps[-2:] == [target - 5, target]
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []


def test_full_disk_gives_a_clear_error_and_no_partial_file(tmp_path, gray_ckpt, audio_ckpt, monkeypatch):
    Image.fromarray((smooth_image(32, 32, 1)[:, :, 0] * 255).astype(np.uint8)).save(tmp_path / "a.png")
    sf.write(tmp_path / "a.wav", speechlike(1.0, 16000), 16000)
    real_write = io.write_image

    def write_half_then_enospc(path, data, pixels, **kw):
        real_write(path, data, pixels, **kw)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.images, "write_image", write_half_then_enospc)
    r = run("image", tmp_path / "a.png", "-o", tmp_path / "out", "--model", gray_ckpt)
    assert r.exit_code == 1 and "No space left on device" in r.output and "Traceback" not in r.output
    monkeypatch.setattr(io.atomic, "fsync_file", lambda p: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    r = run("audio", tmp_path / "a.wav", "-o", tmp_path / "out", "--model", audio_ckpt)
    assert r.exit_code == 1 and "No space left on device" in r.output
    assert list((tmp_path / "out").iterdir()) == []  # neither output nor temporary file


# How running out of memory surfaces: on a GPU, and from torch's CPU allocator (a plain RuntimeError).
OOM_ERRORS = {
    "cuda": lambda: torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)"),
    "cpu": lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                                "memory: you tried to allocate 85899345920 bytes. Error code 12 (simulated)"),
}


class _OOMBelow(torch.nn.Module):
    """Wraps a model and raises ``error()`` (by default CUDA's out-of-memory error) when a batch holds more
    than ``limit`` values, as a too-large batch or tile would."""

    def __init__(self, model, limit, error=OOM_ERRORS["cuda"]):
        super().__init__()
        self.inner, self.limit, self.error, self.config, self.calls = model, limit, error, model.config, []

    @property
    def size_multiple(self):  # the model contract (denoise.models.Denoiser), passed through
        return self.inner.size_multiple

    @property
    def sample_rate(self):
        return self.inner.sample_rate

    @property
    def domain(self):
        return self.inner.domain

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        if x.numel() > self.limit:
            raise self.error()
        return self.inner(x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(OOM_ERRORS))
def test_out_of_memory_retries_with_smaller_batches_then_smaller_tiles(gray_ckpt, audio_ckpt, kind):
    model = load(str(gray_ckpt), domain="image")
    img = smooth_image(300, 300, 1)[:, :, 0]
    ref = arrays.denoise_image_array(model, img, batch_size=8)
    small_batches = _OOMBelow(model, limit=2 * 256 * 256, error=OOM_ERRORS[kind])  # only 2 tiles of 256 fit
    out = arrays.denoise_image_array(small_batches, img, batch_size=8)
    assert np.array_equal(out, ref)  # splitting a batch changes nothing
    assert max(s[0] for s in small_batches.calls if np.prod(s) <= 2 * 256 * 256) <= 2
    small_tiles = _OOMBelow(model, limit=128 * 128, error=OOM_ERRORS[kind])  # not even one 256 tile fits
    out = arrays.denoise_image_array(small_tiles, img, batch_size=8)
    assert 64 < max(s[-1] for s in small_tiles.calls if np.prod(s) <= 128 * 128) <= 128  # halved twice, cut evenly
    assert np.abs(out - ref).max() < 0.05  # other tiles, same picture
    with pytest.raises(io.InputError, match="^out of memory even with 64-pixel tiles"):  # the model is on the CPU
        arrays.denoise_image_array(_OOMBelow(model, limit=10, error=OOM_ERRORS[kind]), img)
    audio = load(str(audio_ckpt), domain="audio")
    x = speechlike(3.0, 16000)
    ref = chunks.denoise_audio_array(audio, np.stack([x, x]), 16000, chunk_seconds=1.0, batch_size=4)
    small_batches = _OOMBelow(audio, limit=2 * 16000, error=OOM_ERRORS[kind])
    out = chunks.denoise_audio_array(small_batches, np.stack([x, x]), 16000, chunk_seconds=1.0, batch_size=4)
    assert np.allclose(out, ref, atol=1e-6)
    with pytest.raises(io.InputError, match="^out of memory on a single"):
        chunks.denoise_audio_array(_OOMBelow(audio, limit=10, error=OOM_ERRORS[kind]), x, 16000)


@pytest.mark.slow
def test_image_progress_counts_each_pixel_once_across_a_retry(gray_ckpt):
    """A retry with smaller tiles redoes the whole image; the bar must not count the redone part twice."""
    class ThirdCallFails(_OOMBelow):
        def forward(self, x):
            if len(self.calls) == 2:  # the third tile runs out of memory, once
                self.calls.append(tuple(x.shape))
                raise self.error()
            return super().forward(x)

    model = ThirdCallFails(load(str(gray_ckpt), domain="image"), limit=10**9, error=OOM_ERRORS["cpu"])
    seen: list[float] = []
    arrays.denoise_image_array(model, smooth_image(300, 300, 1)[:, :, 0], tile=128, overlap=16, batch_size=1,
                                  progress=seen.append)
    assert model.calls[0][-1] > 64 and model.calls[-1][-1] <= 64  # it did retry, with tiles half the size
    assert len(seen) > 9 and min(seen) > 0
    assert sum(seen) == pytest.approx(300 * 300 / 1e6)


def test_errors_other_than_out_of_memory_are_not_retried(gray_ckpt):
    model = _OOMBelow(load(str(gray_ckpt), domain="image"), limit=10,
                      error=lambda: RuntimeError("Given groups=1, weight of size [32, 1, 3, 3] (simulated)"))
    with pytest.raises(RuntimeError, match="groups=1"):
        arrays.denoise_image_array(model, smooth_image(300, 300, 1)[:, :, 0], batch_size=8)
    assert len(model.calls) == 1  # no halved batch, no smaller tile


def test_out_of_memory_error_suggests_the_cpu_only_off_the_cpu():
    net = torch.nn.Conv2d(1, 1, 1)
    assert str(inference.out_of_memory_error(net, "on a single 10 s chunk")) == "out of memory on a single 10 s chunk"
    assert (str(inference.out_of_memory_error(net.to("meta"), "on a single 10 s chunk"))  # any non-CPU device
            == "out of meta memory on a single 10 s chunk; try device='cpu'")
    from denoise.cli.options import flags  # the command line names the option instead

    assert flags("out of cuda memory; try device='cpu'") == "out of cuda memory; try --device cpu"


def test_same_input_same_output_bytes_on_cpu(tmp_path, color_ckpt, audio_ckpt):
    Image.fromarray((smooth_image(70, 90, 3) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    sf.write(tmp_path / "a.wav", speechlike(2.0, 16000), 16000)
    for i in (1, 2):
        assert run("image", tmp_path / "a.png", "-o", tmp_path / f"{i}.png", "--model", color_ckpt).exit_code == 0
        assert run("audio", tmp_path / "a.wav", "-o", tmp_path / f"{i}.wav", "--model", audio_ckpt).exit_code == 0
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "2.png").read_bytes()
    assert (tmp_path / "1.wav").read_bytes() == (tmp_path / "2.wav").read_bytes()


def test_outputs_never_leave_the_output_directory(tmp_path, gray_ckpt, monkeypatch):
    outside = tmp_path / "outside"
    _images(outside, 1, 16)
    tree = tmp_path / "work" / "tree"
    _images(tree / "sub", 2, 16)
    (tree / "link_dir").symlink_to(outside, target_is_directory=True)
    (tree / "sub" / "link.png").symlink_to(outside / "000.png")
    (tree / "loop").symlink_to(tree, target_is_directory=True)
    monkeypatch.chdir(tmp_path / "work")
    out = tmp_path / "out"
    r = run("image", "tree", "../outside/000.png", str(outside / "000.png"), "-o", out, "--model", gray_ckpt)
    written = [p for p in tmp_path.rglob("*.png") if out not in p.parents and p.parent != outside
               and "tree" not in p.parts]
    assert written == [], written
    assert all(out in p.resolve().parents for p in out.rglob("*.png"))
    assert (out / "tree" / "sub" / "link.png").is_file() or (out / "sub" / "link.png").is_file()
    assert "Traceback" not in r.output


def test_no_network_at_run_time(tmp_path, gray_ckpt, audio_ckpt, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network use")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    sf.write(tmp_path / "a.wav", speechlike(0.5, 16000), 16000)
    assert run("image", tmp_path / "a.png", "-o", tmp_path / "o.png").exit_code == 0  # shipped default
    assert run("audio", tmp_path / "a.wav", "-o", tmp_path / "o.wav").exit_code == 0
