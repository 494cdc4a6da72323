import json
import os
import pickle

import pytest
import torch

from denoise import checkpoint
from denoise.checkpoint import CheckpointError
from denoise.config import ModelConfig
from denoise.models import build_model


def _model():
    cfg = ModelConfig(arch="dae", domain="image", channels=1, args={"width": 4})
    return cfg, build_model(cfg)


def test_round_trip_restores_identical_weights_and_metadata(tmp_path):
    cfg, m = _model()
    meta = {"model": cfg.to_dict(), "domain": "image", "metrics": {"val_psnr": 30.0}}
    checkpoint.save_checkpoint(tmp_path / "m.pt", m, meta)
    loaded = checkpoint.load(str(tmp_path / "m.pt"), domain="image")
    assert loaded.meta["metrics"] == {"val_psnr": 30.0}
    for (k, a), (_, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_strict_keys(tmp_path):
    cfg, m = _model()
    wrong = ModelConfig(arch="dae", domain="image", channels=1, args={"width": 8})
    checkpoint.save_checkpoint(tmp_path / "m.pt", m, {"model": wrong.to_dict()})
    with pytest.raises(CheckpointError, match="does not match"):
        checkpoint.load(str(tmp_path / "m.pt"))


def test_non_finite_weights_are_never_written(tmp_path):
    cfg, m = _model()
    with torch.no_grad():
        next(m.parameters())[0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        checkpoint.save_checkpoint(tmp_path / "m.pt", m, {"model": cfg.to_dict()})
    assert list(tmp_path.iterdir()) == []


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format_version": 1, "model": Evil()}, f, protocol=2)  # torch.load's own protocol: no warning
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(str(path))
    assert not marker.exists()
    # PyTorch's own text advises weights_only=False, which would run the payload: never shown
    assert str(info.value) == ("evil.pt: contains code objects or other Python objects, not only tensors: refused "
                               "(loading it could run code)")


def test_newer_format_and_wrong_domain_and_garbage(tmp_path):
    cfg, m = _model()
    torch.save({"format_version": 99, "meta": json.dumps({"model": cfg.to_dict()}), "model": m.state_dict()},
               tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="newer"):
        checkpoint.load(str(tmp_path / "new.pt"))
    checkpoint.save_checkpoint(tmp_path / "img.pt", m, {"model": cfg.to_dict()})
    with pytest.raises(CheckpointError, match="not an audio model"):
        checkpoint.load(str(tmp_path / "img.pt"), domain="audio")
    (tmp_path / "junk.pt").write_bytes(b"hello")
    with pytest.raises(CheckpointError, match=r"^junk.pt: not a denoise checkpoint$"):
        checkpoint.load(str(tmp_path / "junk.pt"))
    whole = (tmp_path / "img.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CheckpointError, match=r"^cut.pt: truncated or damaged \(an interrupted download or copy\?\)"):
        checkpoint.load(str(tmp_path / "cut.pt"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(whole)
    with pytest.raises(CheckpointError, match=r"is a directory: use .*run/best.pt$"):
        checkpoint.load(str(tmp_path / "run"))
    with pytest.raises(CheckpointError, match="no model named"):
        checkpoint.load("no-such-model")


def test_shipped_manifest_hashes_match():
    entries = checkpoint.manifest()
    assert {"image-gray", "image-color", "image-photo", "audio-speech"} <= set(entries)
    for name, e in entries.items():
        assert checkpoint.sha256_file(checkpoint.checkpoints_dir() / e["file"]) == e["sha256"], name


def test_modified_shipped_file_is_refused(tmp_path, monkeypatch):
    src = checkpoint.checkpoints_dir()
    for f in ("manifest.json", "image-gray.pt"):
        (tmp_path / f).write_bytes((src / f).read_bytes())
    monkeypatch.setenv("DENOISE_CHECKPOINTS", str(tmp_path))
    data = bytearray((tmp_path / "image-gray.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "image-gray.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        checkpoint.resolve("image-gray", "image")


def test_shipped_metadata_has_no_absolute_paths():
    """Shipped files are read on users' machines: a path of the machine that trained them means nothing there."""

    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    for name, e in checkpoint.manifest().items():
        meta = checkpoint.read_checkpoint(checkpoint.checkpoints_dir() / e["file"])["meta"]
        assert not [s for s in strings(meta) if os.path.isabs(s)], name
