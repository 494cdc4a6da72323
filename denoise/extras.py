"""Optional features and what to install for each. The PyPI name ``denoise`` belongs to an unrelated
project, so hints never say ``pip install "denoise[extra]"``: they name the packages themselves, which
works however this package was installed (a checkout, a wheel, editable)."""

from __future__ import annotations

# The packages of each extra in pyproject.toml that a command needs at run time (tests check they agree).
EXTRAS: dict[str, tuple[str, ...]] = {
    "report": ("matplotlib",),
    "onnx": ("onnx", "onnxruntime"),
    "live": ("sounddevice",),
    "metrics": ("pesq", "pystoi"),
}


def install_hint(extra: str) -> str:
    """The command that installs the optional feature ``extra``: ``pip install matplotlib``."""
    return f"pip install {' '.join(EXTRAS[extra])}"
