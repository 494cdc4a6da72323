"""The only way models are saved and loaded.

A checkpoint is a dict of tensors and plain containers, loadable with ``torch.load(weights_only=True)``:
``{"format_version": int, "meta": str (JSON), "model": state_dict, ...training state}``. The metadata
(architecture and its arguments, domain, channels, sample rate, STFT, corruption, data, metrics,
versions) is stored as a JSON string so that it stays JSON and never a pickled object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from denoise.config import DEFAULT_NAMES, ConfigError, ModelConfig
from denoise.io import atomic_output
from denoise.models.registry import MAX_PARAMETERS

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message says why in one line."""


def software_versions() -> dict[str, str]:
    from denoise.version import __version__

    return {"denoise": __version__, "torch": torch.__version__}


def _all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(torch.isfinite(t).all().item() for t in state.values() if torch.is_floating_point(t))


def _tensor_problem(name: str, t: Any) -> Optional[str]:
    """Why a loaded weight is not a plain tensor backed by its own storage, or None. A crafted file can
    declare a tensor of 10^12 elements over a 4-byte storage (zero strides): anything that reads every
    element (the finiteness check, a copy) would then ask for terabytes."""
    if not isinstance(t, torch.Tensor):
        return f"{name} is not a tensor"
    if t.numel() > MAX_PARAMETERS:
        return f"{name} declares {t.numel():,} values"
    if t.numel() == 0:
        return None
    if any(stride <= 0 and size > 1 for size, stride in zip(t.shape, t.stride())):
        return f"{name} repeats its values (a zero stride)"
    reach = t.storage_offset() + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride())) + 1
    if reach * t.element_size() > t.untyped_storage().nbytes():
        return f"{name} declares more values than its storage holds"
    return None


def derived_meta(source: nn.Module, name: str, config: Any, how: str, **extra: Any) -> dict[str, Any]:
    """The metadata of a checkpoint made from the loaded ``source`` (given as ``name``) by changing its
    network (deepened, widened): the source's (training data, corruption), the new ``config``, no metrics
    yet, and under ``how`` where it came from (name, digest, step, model and metrics), with ``extra``."""
    meta = {**source.meta, "model": config.to_dict(), "metrics": {},
            how: {"checkpoint": name, "sha256": sha256_file(source.source), **extra,
                  "step": source.meta.get("step"), "model": source.meta["model"],
                  "metrics": source.meta.get("metrics")}}
    meta.pop("shipped_name", None)
    return meta


def save_checkpoint(path: Path, model: nn.Module, meta: dict[str, Any], **training_state: Any) -> None:
    """Writes ``model``'s weights, ``meta`` and optional training state (optimizer, scheduler, step...)
    to ``path`` atomically: a temporary file in the same directory, fsync, then ``os.replace``. A crash
    leaves either the old file or the new one, never a torn one. Non-finite weights are refused. Weights
    are stored contiguous (NCHW), so a channels-last training run does not change how inference lays out
    its tensors."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if not _all_finite(state):
        raise CheckpointError("refusing to save: the model has NaN or Inf weights")
    payload = {"format_version": FORMAT_VERSION, "meta": json.dumps(meta, sort_keys=True), "model": state}
    payload.update(training_state)
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)  # a file object, not the path: torch would name the archive after the temp file


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads the raw payload with ``weights_only=True`` (a pickle that would run code is refused) and
    checks the format version. ``payload["meta"]`` is returned decoded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/foreign/unsafe files
        raise CheckpointError(f"{path.name}: {_load_failure(path, exc)}") from None
    if not isinstance(payload, dict) or "format_version" not in payload or "model" not in payload:
        raise CheckpointError(f"{path.name} is not a denoise checkpoint")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} has checkpoint format {version}, newer than this denoise supports "
            f"({FORMAT_VERSION}); upgrade denoise"
        )
    try:
        payload["meta"] = json.loads(payload["meta"])
    except (TypeError, ValueError):
        raise CheckpointError(f"{path.name} has unreadable metadata") from None
    return payload


def _load_failure(path: Path, exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in one line. PyTorch's own text suggests
    loading again with ``weights_only=False``, which would run whatever code the file holds: never shown."""
    text = str(exc)
    with open(path, "rb") as f:
        head = f.read(4)
    # what torch.save writes: a zip archive (or, from old versions, a pickle: protocol 2+ starts with 0x80)
    looks_like_torch = head == b"PK\x03\x04" or head[:1] == b"\x80"
    if looks_like_torch and ("Unsupported global" in text or "Unsupported operand" in text
                             or "Weights only load failed" in text and "GLOBAL" in text):
        return "contains code objects or other Python objects, not only tensors: refused (loading it could run code)"
    if head == b"PK\x03\x04":  # a zip archive, as torch.save writes, but unreadable: cut short
        return "truncated or damaged (an interrupted download or copy?): not a usable checkpoint"
    return "not a denoise checkpoint"


def model_from_payload(payload: dict[str, Any]) -> nn.Module:
    """Rebuilds the model from metadata and loads its weights with strict key matching."""
    from denoise.models import build_model

    meta, state = payload["meta"], payload["model"]
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint holds no weights")
    problem = next((p for p in (_tensor_problem(str(k), t) for k, t in state.items()) if p), None)
    if problem:
        raise CheckpointError(f"checkpoint is damaged or crafted: {problem}")
    if not _all_finite(state):
        raise CheckpointError("checkpoint has NaN or Inf weights (corrupted file?)")
    try:
        config = ModelConfig.from_dict(meta["model"])
        model = build_model(config, meta)
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, AttributeError, ConfigError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint does not match its architecture: {str(exc).splitlines()[0]}") from None
    return model.eval()


def average(paths: list[Path], last: Optional[int] = None) -> tuple[nn.Module, dict[str, Any]]:
    """The model whose every weight is the mean over the checkpoints ``paths`` (only the ``last`` of them
    by training step, when given: a shell glob sorts step-10000 before step-9500), and its metadata.

    Weights a few evaluations apart on one training run lie in one basin of the loss, and their mean can
    score better than any of them (stochastic weight averaging, Izmailov et al. 2018, done after the fact).
    Every file must hold the same model (architecture, arguments, channels). The metadata is the
    earliest's, with no metrics, the latest step, and under ``averaged_from`` each source's file, step and
    SHA-256 in step order. Means are taken in float64 and cast back to each weight's dtype. Batch-norm
    running statistics (the crn's) are averaged like the weights, an approximation where SWA would
    measure them again on training data: score the mean on held-out data before trusting it."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    if last is not None and last < 1:
        raise CheckpointError(f"last={last}: at least one checkpoint must be averaged")
    read = sorted(((Path(p), read_checkpoint(p)) for p in paths), key=lambda r: r[1]["meta"].get("step") or 0)
    read = read[-last:] if last is not None else read  # in step order from here on
    models = [model_from_payload(pl) for _, pl in read]  # each file checked as any loaded model is
    first = read[0][1]["meta"]
    for p, pl in read:
        theirs, ours = pl["meta"].get("model") or {}, first.get("model") or {}
        differ = [f"{k} {theirs.get(k)}, not {ours.get(k)}" for k in sorted(set(theirs) | set(ours))
                  if theirs.get(k) != ours.get(k)]
        if differ:
            raise CheckpointError(f"{p.name} holds another model than {read[0][0].name} "
                                  f"({'; '.join(differ)}): only one run's checkpoints average")
    states = [m.state_dict() for m in models]
    mean = {k: torch.stack([s[k].double() for s in states]).mean(0).to(v.dtype) for k, v in states[0].items()}
    models[0].load_state_dict(mean, strict=True)
    sources = [{"checkpoint": str(p), "step": pl["meta"].get("step"), "sha256": sha256_file(p)} for p, pl in read]
    meta = {**first, "metrics": {}, "step": sources[-1]["step"], "averaged_from": sources}
    meta.pop("shipped_name", None)
    return models[0], meta


# ------------------------------------------------------------------------------------------ shipped ones
def checkpoints_dir() -> Path:
    """Where the shipped checkpoints are: $DENOISE_CHECKPOINTS, else the installed package data."""
    env = os.environ.get("DENOISE_CHECKPOINTS")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("denoise_checkpoints")))


def manifest() -> dict[str, dict[str, Any]]:
    path = checkpoints_dir() / "manifest.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["models"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=16)
def _verified(path: str, mtime_ns: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


def resolve(name_or_path: str, domain: str, channels: int = 1) -> Path:
    """Maps "default", a shipped name, or a path to a checkpoint file. Shipped files are checked against
    the SHA-256 in the manifest, so a modified or corrupted file is refused."""
    if name_or_path == "default":
        name_or_path = default_name(domain, channels)
    entries = manifest()
    if name_or_path in entries:
        entry = entries[name_or_path]
        path = checkpoints_dir() / entry["file"]
        if not path.is_file():
            raise CheckpointError(f"shipped model {name_or_path!r} is missing its file {path}")
        if not _verified(str(path), path.stat().st_mtime_ns, entry["sha256"]):
            raise CheckpointError(f"shipped model {name_or_path!r} failed its SHA-256 check: {path} was modified")
        return path
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        inside = [p for p in (path / "best.pt", path / "last.pt") if p.is_file()]
        hint = f": use {inside[0]}" if inside else " (a checkpoint is a .pt file)"
        raise CheckpointError(f"{name_or_path} is a directory{hint}")
    known = ", ".join(sorted(entries)) or "none installed"
    raise CheckpointError(f"no model named {name_or_path!r} (shipped: {known}) and no such file")


def default_name(domain: str, channels: int = 1) -> str:
    """The shipped model that "default" means for ``domain`` and an input of ``channels`` channels: the
    one rule used by the command line, the Python API, evaluation and scoring."""
    key = (domain, 1 if domain == "audio" else (3 if channels >= 3 else 1))
    shipped = manifest()
    return next((name for name in DEFAULT_NAMES[key] if name in shipped), DEFAULT_NAMES[key][-1])


def load(name_or_path: str, domain: Optional[str] = None, channels: int = 1,
         device: str | torch.device = "cpu") -> nn.Module:
    """Resolves, loads and moves a model to ``device``; ``model.source`` is the file it was read from. With
    ``domain`` given, a model of the other domain is refused with a clear message."""
    path = resolve(name_or_path, domain or "image", channels)
    model = model_from_payload(read_checkpoint(path))
    if domain is not None and model.domain != domain:
        raise CheckpointError(f"{name_or_path} is an {model.domain} model, not an {domain} model")
    model.source = path
    log.info("model %s: %s (step %s) on %s", name_or_path, path, model.meta.get("step"), device)
    model = model.to(device)
    if next(model.parameters()).device.type == "cpu":
        # oneDNN's CPU convolutions ran 1.5 to 2.4 times faster on channels-last weights, with the same
        # results to within 1e-6 (benchmarks/inference_speed.py); inputs need no conversion
        model = model.to(memory_format=torch.channels_last)
    return model
