"""Copies a training run's best.pt into checkpoints/NAME.pt and records it in checkpoints/manifest.json.

    python scripts/ship_checkpoint.py image-gray runs/image-gray/best.pt "what it is for"

The weights are re-saved through denoise.checkpoint (weights and metadata only, no optimizer state), with
every absolute path in the metadata made relative to the checkout (a user's machine has none of this
one's paths); the manifest gets the file's SHA-256 (verified at every load), size, parameter count and
training data; the run's history.jsonl, if any, is copied to checkpoints/history/NAME.jsonl.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from denoise import checkpoint
from denoise.models import count_parameters

ROOT = Path(__file__).resolve().parent.parent / "checkpoints"


def portable(value: Any) -> Any:
    """The metadata with each absolute path string rewritten relative to the checkout (../shared/data/...)."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        rel = os.path.relpath(value, ROOT.parent)
        # beside the checkout (../shared/data) stays as it is; anything further out was a run folder kept
        # elsewhere on the training machine: named as scripts/train_shipped.sh names it, runs/NAME
        return rel if not rel.startswith(os.path.join("..", "..")) else os.path.join("runs", Path(value).name)
    return value


def _folders(value: Any) -> list[str]:
    """A run's noise folders: one (earlier runs) or a list."""
    return [] if not value else [value] if isinstance(value, str) else list(value)


def main(name: str, run_ckpt: str, purpose: str) -> None:
    payload = checkpoint.read_checkpoint(Path(run_ckpt))
    model = checkpoint.model_from_payload(payload)
    meta = portable(payload["meta"])
    meta["shipped_name"] = name
    dst = ROOT / f"{name}.pt"
    checkpoint.save_checkpoint(dst, model, meta)
    man_path = ROOT / "manifest.json"
    man = json.loads(man_path.read_text()) if man_path.exists() else {"models": {}}
    data = meta.get("data", {})
    man["models"][name] = {
        "file": dst.name,
        "purpose": purpose,
        "sha256": checkpoint.sha256_file(dst),
        "bytes": dst.stat().st_size,
        "domain": meta["domain"],
        "arch": meta["model"]["arch"],
        "arch_args": meta["model"]["args"],
        "channels": meta["model"]["channels"],
        "parameters": count_parameters(model),
        "step": meta.get("step"),
        "metrics": meta.get("metrics", {}),
        "data": ", ".join("/".join(Path(p).parts[-2:]) for p in data.get("train", []))
        + "".join(f" + {'/'.join(Path(n).parts[-2:])}" for n in _folders(data.get("noise")))
        + (" + PolyU pairs (training part)" if data.get("pairs") else ""),
    }
    man_path.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    history = Path(run_ckpt).parent / "history.jsonl"
    if history.is_file():
        shutil.copyfile(history, ROOT / "history" / f"{name}.jsonl")
    print(f"{name}: {dst} ({dst.stat().st_size / 1e6:.2f} MB), {man['models'][name]['metrics']}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
