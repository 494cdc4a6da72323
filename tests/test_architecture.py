"""The layering written down in ARCHITECTURE.md, checked on the source: every import inside the package
(lazy ones in functions included) goes to a lower layer or stays inside its own package, the import graph
has no cycle, and no module imports another module's private name."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ROOT = REPO / "denoise"

# Layer of each module or package, lowest first (ARCHITECTURE.md). A module may import modules of lower
# layers, and modules of its own package.
LAYERS = [
    ["denoise.version", "denoise.config", "denoise.signals", "denoise.extras", "denoise.io"],
    ["denoise.dsp", "denoise.device"],
    ["denoise.metrics", "denoise.models"],
    ["denoise.checkpoint", "denoise.inference"],
    ["denoise.image", "denoise.audio"],
    ["denoise.runner", "denoise.report", "denoise.training", "denoise.export", "denoise.scoring"],
    ["denoise.api"],
    ["denoise.cli"],
    ["denoise.__main__", "denoise"],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def unit(name: str) -> str:
    """The entry of LAYERS that ``name`` belongs to: itself, or its closest listed package."""
    listed = {n for layer in LAYERS for n in layer}
    while name not in listed:
        name = name.rpartition(".")[0]
    return name


def layer(name: str) -> int:
    u = unit(name)
    return next(i for i, names in enumerate(LAYERS) if u in names)


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of a denoise module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "denoise"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "denoise":
            for a in node.names:  # `from denoise import io` names the module denoise.io
                sub = f"{node.module}.{a.name}"
                found.append((sub, [], node.lineno) if sub in known else (node.module, [a.name], node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: {target for target, _, _ in imports(p, known)} - {m} for m, p in known.items()}


def test_every_module_has_a_layer():
    for m in modules():
        assert layer(m) >= 0


def test_imports_go_down_the_layers():
    known = modules()
    wrong = []
    for m, path in known.items():
        for target, _, line in imports(path, known):
            same_package = unit(target) == unit(m)
            if not same_package and layer(target) >= layer(m):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {m} (layer {layer(m)}) imports {target} "
                             f"(layer {layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(g.get(m, ())):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(n):] + [n]) if n in path
                            else f"import cycle through {n}")
            if n in g and not state.get(n):
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(g):
        if not state.get(m):
            visit(m, [m])


def test_no_private_name_crosses_modules():
    known = modules()
    wrong = [f"{p.relative_to(ROOT.parent)}:{line}: {', '.join(n for n in names if n.startswith('_'))} from {target}"
             for m, p in known.items() for target, names, line in imports(p, known)
             if target != m and any(n.startswith("_") and not n.startswith("__") for n in names)]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_cycle(tmp_path, monkeypatch):
    """The cycle test can fail: two modules that import each other are found."""
    pkg = tmp_path / "denoise"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text("from denoise import dsp\n")
    (pkg / "dsp.py").write_text("from denoise.config import X\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="layer 0"):
        test_imports_go_down_the_layers()
