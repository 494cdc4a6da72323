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
                 "blind_spot_fraction": "blind_spot_fraction", "pairs": "pairs", "pairs_fraction": "pairs_fraction"}
_FIELD_FLAGS = {field: "--" + param.replace("_dirs", "").replace("_", "-") for param, field in _TRAIN_FIELDS.items()}
_FIELD_FLAGS.update({"p_camera": "--camera-noise", "overwrite": "--overwrite", "resume": "--resume",
                     "skip_existing": "--skip-existing", "save_every": "--eval-every"})
_BARE_FIELDS = frozenset(f for f in _FIELD_FLAGS if "_" in f) | {"lr", "steps", "epochs"}  # never plain words in errors


def flags(message: str) -> str:
    """A library message in the terms of this command line: settings are named there as in Python
    (``batch_size``, ``lr``, ``data=[...]``, ``overwrite=True``), here as the options that set them."""
    def option(m: re.Match) -> str:
        groups = m.groups() + (None, None, None)
        name, how, value, bare_eq = groups[:4]
        if how is None or how == "=True" or bare_eq is not None:  # a flag, or an option named without a value
            return _FIELD_FLAGS[name]
        return f"{_FIELD_FLAGS[name]} {value}" if value is not None else _FIELD_FLAGS[name] + " "

    names = "|".join(sorted(map(re.escape, _FIELD_FLAGS), key=len, reverse=True))
    message = re.sub(rf"(?<![\w-])({names})(=True\b|='([^']*)'|=(?=[\s,;)]|$)()|=)", option, message)
    bare = "|".join(sorted(map(re.escape, _BARE_FIELDS), key=len, reverse=True))
    return re.sub(rf"(?<![\w.-])({bare})(?![\w=-])", option, message)


def train_fields(named: dict[str, Any], arch_args: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The TrainConfig fields of the options in ``named`` (option name -> value), converted."""
    given: dict[str, Any] = {}
    for param, value in named.items():
        if param == "camera_noise":
            given["corruption"] = {"p_camera": value}
        elif param in _TRAIN_FIELDS:
            convert = {"data_dirs": list, "channels": int, "arch_args": lambda _: arch_args}.get(param)
            given[_TRAIN_FIELDS[param]] = convert(value) if convert and value is not None else value
    if "eval_every" in given:
        given["save_every"] = given["eval_every"]
    return given


def new_train_config(domain: str, init: Optional[str], arch: Optional[str], args: Optional[dict[str, Any]],
                      channels: Optional[str], steps: Optional[int], epochs: Optional[int],
                      options: dict[str, Any]) -> Any:
    """The TrainConfig of a new run. With ``init``, the architecture, its arguments and the channels left
    out come from that checkpoint (``denoise.train.resolve_init``). Raises ConfigError with a message in
    terms of the options."""
    from denoise.config import ConfigError, CorruptionConfig, TrainConfig

    if steps is None and epochs is None:
        steps = 1000
    o = options
    try:
        return TrainConfig(domain=domain, data=list(o["data_dirs"]), noise_dir=o["noise_dir"], val=o["val"],
                           out=o["out"], arch=arch, arch_args=args, init=init,
                           channels=int(channels) if channels else None, steps=steps, epochs=epochs,
                           batch_size=o["batch_size"], lr=o["lr"], patch_size=o["patch_size"], device=o["device"],
                           seed=o["seed"], overwrite=o["overwrite"], eval_every=o["eval_every"],
                           save_every=o["eval_every"], num_workers=o["workers"], max_time=o["max_time"],
                           self_supervised=o["self_supervised"], blind_spot_fraction=o["blind_spot_fraction"],
                           precision=o["precision"], loss=o["loss"], pairs=o["pairs"],
                           pairs_fraction=o["pairs_fraction"], corruption=CorruptionConfig(p_camera=o["camera_noise"]))
    except ConfigError as exc:
        raise ConfigError(flags(str(exc))) from None
