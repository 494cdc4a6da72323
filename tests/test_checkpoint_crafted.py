"""Checkpoints crafted to take the tool down, holding no code: each is refused in one line, fast."""

import json
import os
import time

import pytest
import torch

from denoise import checkpoint
from denoise.checkpoint import CheckpointError
from denoise.config import ModelConfig
from denoise.models import build_model, build_net


def _payload(model: torch.nn.Module, config: ModelConfig) -> dict:
    return {"format_version": checkpoint.FORMAT_VERSION, "model": dict(model.state_dict()),
            "meta": json.dumps({"model": config.to_dict(), "domain": config.domain})}


def test_a_tensor_larger_than_its_storage_is_refused_without_reading_it(tmp_path):
    config = ModelConfig(domain="image", arch="dae", channels=1, args={"width": 4, "depth": 1})
    payload = _payload(build_model(config), config)
    payload["model"]["net.head.0.weight"] = torch.zeros(1).expand(10**5, 10**5)  # 10^10 values, 4 bytes stored
    torch.save(payload, tmp_path / "big.pt")
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="damaged or crafted"):
        checkpoint.load(str(tmp_path / "big.pt"))
    assert time.perf_counter() - t0 < 5


def test_architecture_arguments_are_bounded_before_anything_is_built():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="blocks must be at most 64, got 100000"):
        build_net("dae", in_channels=1, out_channels=1, width=4, depth=1, blocks=100000)
    with pytest.raises(ValueError, match="width must be at most 65536"):
        build_net("crn", in_channels=1, out_channels=1, width=10**7)
    assert time.perf_counter() - t0 < 1


def test_a_checkpoint_with_unbounded_arguments_is_one_error(tmp_path):
    config = ModelConfig(domain="image", arch="dae", channels=1, args={"width": 4, "depth": 1})
    payload = _payload(build_model(config), config)
    meta = json.loads(payload["meta"])
    meta["model"]["args"]["latent_blocks"] = 100000
    payload["meta"] = json.dumps(meta)
    torch.save(payload, tmp_path / "deep.pt")
    with pytest.raises(CheckpointError, match="latent_blocks must be at most"):
        checkpoint.load(str(tmp_path / "deep.pt"))


def test_random_bytes_are_not_called_code(tmp_path):
    (tmp_path / "noise.pt").write_bytes(b"\x00" + os.urandom(4095))  # not a zip, nor a pickle
    with pytest.raises(CheckpointError, match="not a denoise checkpoint") as info:
        checkpoint.load(str(tmp_path / "noise.pt"))
    assert "code" not in str(info.value)
