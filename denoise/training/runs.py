"""A training run's directory and settings: what a new run may write into, what a resumed run keeps
from its ``config.json``, and the model a run builds (from scratch, or from an ``init`` checkpoint)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from denoise import checkpoint, io
from denoise.config import ConfigError, ModelConfig, TrainConfig
from denoise.models import is_residual, registered_defaults, spectrum_args

log = logging.getLogger(__name__)


class TrainingError(Exception):
    """Training cannot start or cannot go on; the message says why."""


def model_config_for(cfg: TrainConfig, channels: int) -> ModelConfig:
    """The ModelConfig a run of ``cfg`` builds (``cfg`` resolved by :func:`resolve_init`): the arguments
    registered for the architecture, then (audio) those its spectrogram needs, then the run's own."""
    args = registered_defaults(cfg.domain, cfg.arch)  # type: ignore[arg-type]
    if cfg.domain == "audio":
        args.update(spectrum_args(cfg.arch, cfg.sample_rate, cfg.stft.n_fft))  # type: ignore[arg-type]
    args.update(cfg.arch_args or {})
    if cfg.domain == "image":
        output = "residual" if is_residual(cfg.arch) else "direct"
        return ModelConfig(arch=cfg.arch, domain="image", channels=channels, args=args, output=output)
    return ModelConfig(arch=cfg.arch, domain="audio", channels=1, args=args, output="mask",
                       sample_rate=cfg.sample_rate, stft=cfg.stft, low_cut_hz=cfg.low_cut_hz)


def resolve_init(cfg: TrainConfig) -> tuple[TrainConfig, Optional[nn.Module]]:
    """``cfg`` with ``arch``, ``arch_args`` and ``channels`` settled, and the ``init`` model (None without
    one, or when resuming): what is left as None comes from the init checkpoint (its architecture; its
    arguments when the architecture is its own; its channels), else from the defaults ("dae", the
    architecture's registered arguments, the data). The checkpoint is read here, once."""
    if not cfg.init or cfg.resume:
        return dataclasses.replace(cfg, arch=cfg.arch or "dae", arch_args=cfg.arch_args or {}), None
    try:
        start = checkpoint.load(cfg.init, cfg.domain, cfg.channels or 1)
    except checkpoint.CheckpointError as exc:
        raise ConfigError(f"init={cfg.init}: {exc}") from None
    base = start.config
    args = cfg.arch_args if cfg.arch_args is not None else (base.args if cfg.arch in (None, base.arch) else {})
    channels = cfg.channels if cfg.channels is not None or cfg.domain != "image" else base.channels
    return dataclasses.replace(cfg, arch=cfg.arch or base.arch, arch_args=args, channels=channels), start


def grown_keys(model: nn.Module, state: dict[str, torch.Tensor]) -> Optional[list[str]]:
    """The model's tensors that ``state`` lacks, when every tensor of ``state`` is in the model with its
    shape (the model is the init model with parts added, e.g. more blocks or a refinement stage); None
    when it is not."""
    own = model.state_dict()
    if any(k not in own or own[k].shape != v.shape for k, v in state.items()):
        return None
    return [k for k in own if k not in state]


def load_init(model: nn.Module, cfg: TrainConfig, mcfg: ModelConfig, start: nn.Module) -> dict[str, Any]:
    """Loads the init model's weights into ``model`` after checking that it is the same model (a low cut,
    which has no weights, may be added) or the same architecture grown by its arguments, every init tensor
    in place (the added parts keep their fresh weights: the naf blocks and refinement stage start as the
    identity); returns what the new checkpoints record about it (their weights descend from its data too)."""
    theirs, state = start.config, start.state_dict()
    grown = grown_keys(model, state)  # [] for the same model
    if grown is None or dataclasses.replace(theirs, args=mcfg.args, low_cut_hz=mcfg.low_cut_hz) != mcfg:
        raise ConfigError(
            f"init={cfg.init} is an {theirs.domain} {theirs.arch} model with arguments "
            f"{json.dumps(theirs.args, sort_keys=True)} and {theirs.channels} channel(s); this run builds "
            f"{mcfg.arch} {json.dumps(mcfg.args, sort_keys=True)} with {mcfg.channels}, which does not hold "
            "all its weights (leave out arch, arch_args and channels to take the checkpoint's)")
    model.load_state_dict(state, strict=not grown)
    log.info("starting from the weights of %s%s", start.source,
             f" ({len(grown)} tensors added by arch_args {json.dumps(mcfg.args, sort_keys=True)} start fresh)"
             if grown else "")
    return {"checkpoint": cfg.init, "sha256": checkpoint.sha256_file(start.source), "step": start.meta.get("step"),
            "data": start.meta.get("data"), "init": start.meta.get("init")}




RUN_FILES = ("last.pt", "best.pt", "history.jsonl")  # what a run writes besides config.json (and snapshots/)
SNAPSHOTS = "snapshots"  # each evaluation's weights, step-N.pt, when TrainConfig.snapshots
# What a resumed run may change: its length (to extend it) and where it runs. Everything else is the run's.
RESUME_MAY_CHANGE = frozenset({"steps", "epochs", "max_time", "num_workers", "device", "snapshots"})
_PATH_FIELDS = frozenset({"data", "noise_dir", "val", "init", "pairs"})


def _same_setting(name: str, saved: Any, given: Any) -> bool:
    if name in _PATH_FIELDS and saved is not None and given is not None:
        as_paths = lambda v: [str(Path(p).resolve()) for p in (v if isinstance(v, list) else [v])]  # noqa: E731
        return as_paths(saved) == as_paths(given)
    if isinstance(saved, (list, tuple)) and isinstance(given, (list, tuple)):
        return list(saved) == list(given)
    return saved == given


def resumed_config(out: str | Path, given: dict[str, Any]) -> TrainConfig:
    """The configuration to resume the run in ``out`` with: the run's own ``config.json``, with ``given``
    (the settings the caller named explicitly, by TrainConfig field; ``corruption`` as a dict of the
    fields named) applied. Fields in ``RESUME_MAY_CHANGE`` replace the saved values (more steps, more time,
    another device); any other that differs from the run's raises TrainingError naming the field and both
    values, since a run resumed with other data or settings would no longer be the run it says it is."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise TrainingError(f"resume=True: {path} not found, so the run's settings are unknown")
    try:
        saved = TrainConfig.from_dict(json.loads(path.read_text())).to_dict()
    except (ValueError, TypeError, KeyError, AttributeError, ConfigError) as exc:  # JSONDecodeError is a ValueError
        raise TrainingError(f"resume=True: {path} is damaged or incomplete ({str(exc)[:200]}); restore it, or start "
                            "the run again with overwrite=True") from None
    # the run is where it was asked to continue: a copied run (cp -r runs/A runs/B) resumes in B, not in A
    changes = {"resume": True, "overwrite": False, "out": str(out)}
    for name, value in given.items():
        if name == "corruption":
            differ = {k: v for k, v in value.items() if saved["corruption"].get(k) != v}
            if differ:
                k = sorted(differ)[0]
                raise TrainingError(f"resume=True: the run has {k}={saved['corruption'].get(k)}, not {k}={differ[k]}")
        elif name in RESUME_MAY_CHANGE:
            changes[name] = value
        elif not _same_setting(name, saved.get(name), value):
            raise TrainingError(f"resume=True: the run has {name}={saved.get(name)!r}, not {name}={value!r} (only "
                                f"{', '.join(f'{f}=' for f in sorted(RESUME_MAY_CHANGE))} may change when resuming)")
    if "steps" in changes and "epochs" not in given:
        changes["epochs"] = None  # new steps replace a length given in epochs
    return TrainConfig.from_dict({**saved, **changes})


def check_out(out: Path, cfg: TrainConfig) -> None:
    """Refuses, before any work, an ``out`` that is a file, or that holds another run when neither
    ``resume`` nor ``overwrite`` says what to do with it: a new run would replace its checkpoints and
    append to its history."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"out={out} is a file, not a run directory")
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not (cfg.resume or cfg.overwrite):
        raise TrainingError(f"{out} already holds a run ({', '.join(found)}): resume=True continues it, "
                            "overwrite=True starts it again, or choose another out=")


def absolute(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its files and folders as absolute paths (``out``, ``data``, ``noise_dir``, ``val``,
    ``pairs``, and ``init`` when it names a file rather than a shipped model): what ``config.json``
    records, so that resuming from another working directory compares the same folders."""
    def fix(v: Optional[str]) -> Optional[str]:
        return None if v is None else str(Path(v).resolve())

    init = fix(cfg.init) if cfg.init is not None and Path(cfg.init).exists() else cfg.init
    noise = [fix(d) for d in cfg.noise_dir] if cfg.noise_dir else None
    return dataclasses.replace(cfg, out=fix(cfg.out), data=[fix(d) for d in cfg.data], noise_dir=noise,
                               val=fix(cfg.val), pairs=fix(cfg.pairs), init=init)


DATA_RECORD = "data.json"  # beside config.json: what the data folders held when the run started


def data_record(cfg: TrainConfig) -> dict[str, Any]:
    """Per data setting (``data``, ``val``, ``noise_dir``, ``pairs``), the number of files, their bytes,
    and a digest of their names and sizes: enough to see files added, removed or replaced."""
    import hashlib

    exts = io.IMAGE_EXTS if cfg.domain == "image" else io.AUDIO_EXTS
    folders = {"data": cfg.data, "val": [cfg.val] if cfg.val else [], "pairs": [cfg.pairs] if cfg.pairs else [],
               "noise_dir": cfg.noise_dir or []}
    record: dict[str, Any] = {}
    for name, paths in folders.items():
        if not paths:
            continue
        files = io.list_files(paths, io.AUDIO_EXTS if name == "noise_dir" else exts)
        sizes = [(str(f.resolve()), f.stat().st_size) for f in files]
        digest = hashlib.sha256("\n".join(f"{p}\t{s}" for p, s in sorted(sizes)).encode()).hexdigest()[:16]
        record[name] = {"files": len(sizes), "bytes": sum(s for _, s in sizes), "digest": digest}
    return record


def check_same_data(cfg: TrainConfig) -> None:
    """On resume: raises TrainingError if the data folders no longer hold what the run started with
    (``DATA_RECORD``), since the resumed run would see other batches and another validation subset than
    it promises. A run without the record (an older denoise) is resumed as it is."""
    path = Path(cfg.out) / DATA_RECORD
    if not path.is_file():
        return
    try:
        then = json.loads(path.read_text())
    except ValueError:
        return
    now = data_record(cfg)
    for name in sorted(set(then) | set(now)):
        a, b = then.get(name), now.get(name)
        if a != b:
            was = f"{a['files']} files, {a['bytes']} bytes" if a else "nothing"
            raise TrainingError(f"resume=True: the {name} folder changed since the run started ({was} then, "
                                f"{b['files'] if b else 0} files, {b['bytes'] if b else 0} bytes now): a resumed run "
                                "would not see the batches it promises; restore the data or start a new run")

