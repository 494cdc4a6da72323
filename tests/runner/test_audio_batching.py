"""Chunks of many audio files in shared forward passes: the same outputs as one file at a time, failures
kept to their own file, nothing half-written, progress."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
from torch import nn

from denoise import checkpoint, io
from denoise.runner.files import denoise_paths
from tests.conftest import speechlike


class Counting(nn.Module):
    """An audio model that records the batch size of each pass and raises for inputs ``bad`` picks."""

    def __init__(self, inner: nn.Module, bad=lambda x: False) -> None:
        super().__init__()
        self.inner, self.bad, self.batches = inner, bad, []
        self.config, self.domain, self.stft_cfg = inner.config, inner.domain, inner.stft_cfg

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    def forward(self, x: torch.Tensor, level=None) -> torch.Tensor:
        self.batches.append(len(x))
        if self.bad(x):
            raise RuntimeError("broken")
        return self.inner(x, level=level)


def make_files(folder, specs):
    """specs: (name, seconds, rate, channels) -> jobs writing to folder/out/."""
    rng = np.random.default_rng(0)
    jobs = []
    for i, (name, seconds, rate, channels) in enumerate(specs):
        x = np.stack([speechlike(seconds, rate, seed=i + c) for c in range(channels)], axis=1)
        sf.write(folder / name, x + 0.02 * rng.standard_normal(x.shape), rate, subtype="FLOAT")
        jobs.append(io.Job(folder / name, folder / "out" / name))
    return jobs


SPECS = [("a.wav", 3.0, 16000, 1), ("b.wav", 12.5, 16000, 1), ("c.wav", 2.0, 48000, 2), ("d.wav", 0.1, 16000, 1),
         ("e.wav", 3.0, 16000, 1)]


def test_files_share_passes_and_come_out_as_alone(tmp_path, audio_ckpt):
    model = checkpoint.load(audio_ckpt, "audio")
    jobs = make_files(tmp_path, SPECS)
    alone = {}
    for job in jobs:
        res = list(denoise_paths(model, [io.Job(job.src, tmp_path / "alone" / job.src.name)], batch_size=1))
        assert res[0].status == "done"
        alone[job.src.name] = sf.read(tmp_path / "alone" / job.src.name)[0]
    counting = Counting(model)
    seconds = []
    results = list(denoise_paths(counting, jobs, batch_size=4, audio_progress=seconds.append))
    assert [r.status for r in results] == ["done"] * len(jobs)
    assert max(counting.batches) > 1  # files shared passes
    for job in jobs:
        got = sf.read(job.dst)[0]
        assert got.shape == alone[job.src.name].shape
        np.testing.assert_allclose(got, alone[job.src.name], atol=1e-5)
    assert sum(seconds) == sum(s for _, s, _, _ in SPECS)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_failing_file_fails_alone_and_leaves_nothing(tmp_path, audio_ckpt):
    model = checkpoint.load(audio_ckpt, "audio")
    jobs = make_files(tmp_path, SPECS[:3])
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    jobs.insert(1, io.Job(tmp_path / "broken.wav", tmp_path / "out" / "broken.wav"))
    loud = Counting(model, bad=lambda x: bool((x.abs().amax(dim=-1) > 5).any()))
    sf.write(tmp_path / "loud.wav", np.full(32000, 0.1, np.float32) * np.sin(np.arange(32000)), 16000)
    data, rate = sf.read(tmp_path / "loud.wav")
    sf.write(tmp_path / "loud.wav", data * 80, rate, subtype="FLOAT")  # beyond full scale: the model "fails"
    jobs.append(io.Job(tmp_path / "loud.wav", tmp_path / "out" / "loud.wav"))
    results = {r.src.name: r for r in denoise_paths(loud, jobs, batch_size=4)}
    assert results["broken.wav"].status == "failed" and results["loud.wav"].status == "failed"
    assert "broken" in results["loud.wav"].reason
    assert all(results[n].status == "done" for n in ("a.wav", "b.wav", "c.wav"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav", "c.wav"]
