"""On a CUDA machine: the same results as the CPU, batched across files. Skipped without CUDA (run by
benchmarks/gpu_check.sh)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import smooth_image, speechlike

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("name", ["image-photo", "image-photo-naf"])
def test_images_on_cuda_agree_with_the_cpu_across_files(tmp_path, name):
    from denoise import checkpoint, io, metrics
    from denoise.runner.files import denoise_paths
    from tests.conftest import write_image

    rng = np.random.default_rng(0)
    jobs = []
    for i in range(6):
        px = np.clip(smooth_image(96, 128, 3, seed=i) + rng.normal(0, 0.1, (96, 128, 3)), 0, 1)
        src = write_image(tmp_path / f"{i}.png", (px * 255).astype(np.uint8))
        jobs.append(src)
    outs = {}
    for device in ("cpu", "cuda"):
        model = checkpoint.load(name, "image", channels=3, device=device)
        results = list(denoise_paths(model, [io.Job(s, tmp_path / device / s.name) for s in jobs], batch_size=4))
        assert all(r.status == "done" for r in results)
        outs[device] = [io.read_image(tmp_path / device / s.name).pixels for s in jobs]
    for a, b in zip(outs["cpu"], outs["cuda"]):
        assert metrics.psnr(a, b) > 40  # bf16 autocast on CUDA, float32 on the CPU


def test_audio_on_cuda_agrees_with_the_cpu():
    from denoise import checkpoint, metrics
    from denoise.audio.chunks import denoise_audio_array

    x = speechlike(12.0, 16000) + 0.02 * np.random.default_rng(0).standard_normal(12 * 16000).astype(np.float32)
    cpu = denoise_audio_array(checkpoint.load("audio-speech"), x, 16000)
    gpu = denoise_audio_array(checkpoint.load("audio-speech", device="cuda"), x, 16000, batch_size=4)
    assert metrics.si_sdr(gpu, cpu) > 25
