"""How ``denoise train``'s options become a TrainConfig, and how library messages, which name settings as a
Python caller writes them (``batch_size``, ``overwrite=True``), are shown in terms of the options."""

from __future__ import annotations

import re
from typing import Any, Optional

# TrainConfig fields by the option that sets them (``--workers`` sets num_workers, ...), for resuming and
# for turning a library message that names a field into one that names the option.
_TRAIN_FIELDS = {"domain": "domain", "data_dirs": "data", "noise_dir": "noise_dir", "val": "val", "arch": "arch",
                 "arch_args": "arch_args", "init": "init", "channels": "channels", "steps": "steps",
                 "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "patch_size": "patch_size",
                 "eval_every": "eval_every", "max_time": "max_time", "workers": "num_workers", "device": "device",
                 "seed": "seed", "precision": "precision", "loss": "loss", "self_supervised": "self_supervised",
                 "blind_spot_fraction": "blind_spot_fraction", "pairs": "pairs", "pairs_fraction": "pairs_fraction",
                 "sample_rate": "sample_rate", "low_cut": "low_cut_hz", "snapshots": "snapshots"}
_FIELD_FLAGS = {field: "--" + param.replace("_dirs", "").replace("_", "-") for param, field in _TRAIN_FIELDS.items()}
_CORRUPTION_FLAGS = {"camera_noise": "p_camera", "camera_nr": "p_camera_nr", "phone_noise": "p_phone",
                     "jpeg_noise": "p_jpeg", "transient_noise": "p_transient", "noise_eq": "p_eq",
                     "broadband_noise": "p_broadband", "room_tone": "p_room_tone",
                     "pauses": "p_pauses", "match_band": "p_match_band",
                     "recorded_noise": "p_recorded"}
_FIELD_FLAGS.update({field: "--" + param.replace("_", "-") for param, field in _CORRUPTION_FLAGS.items()})
_FIELD_FLAGS.update({"overwrite": "--overwrite", "resume": "--resume",
                     "skip_existing": "--skip-existing", "save_every": "--eval-every", "raw_format": "--raw-format",
                     "rate": "--rate", "last": "--last"})
_BARE_FIELDS = frozenset(f for f in _FIELD_FLAGS if "_" in f) | {"lr", "steps", "epochs"}  # never plain words in errors


def _alternatives(names: frozenset[str] | dict[str, str]) -> str:
    return "|".join(sorted(map(re.escape, names), key=len, reverse=True))  # longest first: batch_size before size


# `name=True`, `name='value'`, `name=` (alone) or `name=value`; and the names no plain word could be, bare
_NAMED = re.compile(rf"(?<![\w-])({_alternatives(_FIELD_FLAGS)})(=True\b|='([^']*)'|=(?=[\s,;)]|$)()|=)")
_BARE = re.compile(rf"(?<![\w.-])({_alternatives(_BARE_FIELDS)})(?![\w=-])")


def _option(m: re.Match) -> str:
    groups = m.groups() + (None, None, None)
    name, how, value, bare_eq = groups[:4]
    if how is None or how == "=True" or bare_eq is not None:  # a flag, or an option named without a value
        return _FIELD_FLAGS[name]
    return f"{_FIELD_FLAGS[name]} {value}" if value is not None else _FIELD_FLAGS[name] + " "


def flags(message: str) -> str:
    """A library message in the terms of this command line: settings are named there as in Python
    (``batch_size``, ``lr``, ``data=[...]``, ``overwrite=True``), here as the options that set them."""
    return _BARE.sub(_option, _NAMED.sub(_option, message))


def train_fields(named: dict[str, Any], arch_args: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The TrainConfig fields of the options in ``named`` (option name -> value), converted."""
    given: dict[str, Any] = {}
    for param, value in named.items():
        if param in _CORRUPTION_FLAGS:
            given.setdefault("corruption", {})[_CORRUPTION_FLAGS[param]] = value
        elif param in _TRAIN_FIELDS:
            convert = {"data_dirs": list, "noise_dir": lambda v: list(v) or None, "channels": int,
                       "sample_rate": int,
                       "arch_args": lambda _: arch_args}.get(param)
            given[_TRAIN_FIELDS[param]] = convert(value) if convert and value is not None else value
    if "eval_every" in given:
        given["save_every"] = given["eval_every"]
    return given


def new_train_config(o: dict[str, Any], args: Optional[dict[str, Any]]) -> Any:
    """The TrainConfig of a new run. With ``init``, the architecture, its arguments and the channels left
    out come from that checkpoint (``denoise.training.loop.resolve_init``). Raises ConfigError with a message in
    terms of the options."""
    from denoise.config import ConfigError, CorruptionConfig, TrainConfig

    fields = train_fields({k: v for k, v in o.items() if k in _TRAIN_FIELDS or k in _CORRUPTION_FLAGS}, args)
    if fields.get("steps") is None and fields.get("epochs") is None:
        fields["steps"] = 1000
    try:
        return TrainConfig(out=o["out"], overwrite=o["overwrite"],
                           corruption=CorruptionConfig(**fields.pop("corruption", {})), **fields)
    except ConfigError as exc:
        raise ConfigError(flags(str(exc))) from None
