"""Architecture registry: name -> nn.Module class with explicit constructor arguments."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

_REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = cls
        return cls

    return wrap


def available() -> list[str]:
    return sorted(_REGISTRY)


def build_net(name: str, **args: Any) -> nn.Module:
    """Instantiates a registered network; unknown names and unknown arguments raise ValueError."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(available())}") from None
    try:
        return cls(**args)
    except TypeError as exc:
        raise ValueError(f"bad arguments for architecture {name!r}: {exc}") from None
