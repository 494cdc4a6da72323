"""Architecture registry: name -> nn.Module class with explicit constructor arguments."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import torch
from torch import nn

_REGISTRY: dict[str, type[nn.Module]] = {}
_SUMMARIES: dict[str, str] = {}
_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}
_RESIDUAL: set[str] = set()
_DOMAINS: dict[str, tuple[str, ...]] = {}


def register(name: str, summary: str, defaults: Optional[dict[str, dict[str, Any]]] = None,
             residual: bool = False, domains: tuple[str, ...] = ("image", "audio")
             ) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: makes the network buildable as ``arch=name``. ``summary`` is the line that
    ``denoise models --archs`` shows for it; ``defaults`` the constructor arguments a training run uses per
    domain where the caller sets none (over the class defaults); ``residual``: as an image model it predicts
    the noise, which is subtracted (only a network with skips may: through a bottleneck it must output the
    image itself, or the input would bypass the latent)."""
    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = cls
        _SUMMARIES[name] = summary
        _DEFAULTS[name] = defaults or {}
        _DOMAINS[name] = domains
        if residual:
            _RESIDUAL.add(name)
        return cls

    return wrap


def default_arch_args(domain: str, arch: str) -> dict[str, Any]:
    """Every constructor argument a run of ``arch`` in ``domain`` uses when it sets none: the class
    defaults, overridden by the ones registered for the domain (what ``denoise models --archs`` lists)."""
    return {**describe(arch)["arch_args"], **_DEFAULTS[arch].get(domain, {})}


def registered_defaults(domain: str, arch: str) -> dict[str, Any]:
    """Only the arguments registered for ``domain`` (what a run's ModelConfig records beside its own)."""
    return dict(_DEFAULTS.get(arch, {}).get(domain, {}))


def spectrum_args(arch: str, sample_rate: int, n_fft: int) -> dict[str, Any]:
    """The constructor arguments an audio network needs for an STFT of ``n_fft`` points at ``sample_rate``
    beyond its registered defaults (its ``args_for_spectrum``, if it has one): {} for a network that fits
    any spectrogram, or for the 16 kHz, 512-point one the defaults are for."""
    fn = getattr(_REGISTRY.get(arch), "args_for_spectrum", None)
    return dict(fn(sample_rate, n_fft)) if fn is not None else {}


def domains(arch: str) -> tuple[str, ...]:
    """What the registered architecture ``arch`` can denoise: "image", "audio" or both."""
    return _DOMAINS[arch]


def check_domain(arch: str, domain: str) -> None:
    """Raises ValueError if the registered architecture ``arch`` cannot denoise ``domain``."""
    if arch in _DOMAINS and domain not in _DOMAINS[arch]:
        raise ValueError(f"architecture {arch!r} is for {' and '.join(_DOMAINS[arch])} only, not {domain}")


def is_residual(arch: str) -> bool:
    return arch in _RESIDUAL


def available() -> list[str]:
    return sorted(_REGISTRY)


def describe(name: str) -> dict[str, Any]:
    """The registered summary and the constructor arguments that ``--arch-args`` may set, with the class
    defaults (the channel counts come from the domain and the data, so they are left out)."""
    cls = _REGISTRY[name]
    args = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if k not in ("self", "in_channels", "out_channels") and p.default is not inspect.Parameter.empty}
    return {"summary": _SUMMARIES[name], "arch_args": args}


MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, before gradients and optimizer state
MAX_DEPTH = 8  # down-sampling levels: inputs are padded to multiples of 2**depth (256 pixels or STFT bins)
MAX_BLOCKS = 64  # an argument that counts modules (blocks, latent_blocks): each one is built, even on meta
MAX_SIZE = 65536  # any other whole-number argument (widths, channels, kernels); the parameter count bounds the rest


def _check_sizes(name: str, args: dict[str, Any]) -> None:
    """Bounds every whole-number argument before anything is built: a count of 100,000 blocks (in a
    user's --arch-args or a crafted checkpoint) would otherwise build 100,000 modules just to be counted."""
    for key, value in args.items():
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        limit = MAX_DEPTH if key == "depth" else MAX_BLOCKS if key.endswith("blocks") else MAX_SIZE
        if value > limit:
            raise ValueError(f"bad arguments for architecture {name!r}: {key} must be at most {limit}, got {value}")


def build_net(name: str, **args: Any) -> nn.Module:
    """Instantiates a registered network; unknown names, unknown or invalid arguments and networks of
    more than MAX_PARAMETERS parameters raise ValueError.

    The network is first built on the meta device (shapes only, no memory) and its parameters counted:
    channel counts double with every level, so a slip such as ``{"depth": 30}`` would otherwise ask for
    more memory than any machine has and be killed by the OS with no message.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(available())}") from None
    known = describe(name)["arch_args"]
    unknown = sorted(set(args) - set(known) - {"in_channels", "out_channels"})
    if unknown:
        raise ValueError(f"architecture {name!r} has no argument {', '.join(map(repr, unknown))}; its arguments "
                         f"are {', '.join(f'{k} (default {v})' for k, v in known.items())}")
    depth = args.get("depth", known.get("depth", 0))
    if isinstance(depth, int) and depth > MAX_DEPTH:
        raise ValueError(f"bad arguments for architecture {name!r}: depth must be at most {MAX_DEPTH} (each level "
                         f"halves the resolution and doubles the width), got {depth}")
    _check_sizes(name, args)
    try:
        with torch.device("meta"):
            n = sum(p.numel() for p in cls(**args).parameters())
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ValueError(f"bad arguments for architecture {name!r}: {exc}") from None
    if n > MAX_PARAMETERS:
        raise ValueError(f"bad arguments for architecture {name!r}: {n:,} parameters, more than the "
                         f"{MAX_PARAMETERS:,} allowed")
    return cls(**args)
