"""Writes the mean of several checkpoints of one training run: each weight averaged over them.

    python scripts/average_checkpoints.py runs/NAME/averaged.pt runs/NAME/snapshots/step-*.pt

Weights a few evaluations apart on the same run lie in one basin of the loss, and their mean can score
better than any of them (stochastic weight averaging, Izmailov et al. 2018, done after the fact). The
checkpoints must hold the same model (architecture, arguments, channels); the new file keeps the first's
metadata, with the latest step and under ``averaged_from`` each source's file, step and SHA-256, in step
order. It is not written over an existing file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from denoise import checkpoint


def average(paths: list[Path]) -> tuple[torch.nn.Module, dict]:
    """The model whose every weight is the mean over ``paths``, and its metadata."""
    payloads = [checkpoint.read_checkpoint(p) for p in paths]
    first = payloads[0]["meta"]
    for p, payload in zip(paths, payloads):
        if payload["meta"]["model"] != first["model"]:
            raise SystemExit(f"{p} holds {payload['meta']['model']}, not {paths[0]}'s {first['model']}")
    model = checkpoint.model_from_payload(payloads[0])
    state = {k: torch.stack([pl["model"][k].double() for pl in payloads]).mean(0).to(v.dtype)
             for k, v in payloads[0]["model"].items()}
    model.load_state_dict(state, strict=True)
    sources = sorted(({"checkpoint": str(p), "step": pl["meta"]["step"], "sha256": checkpoint.sha256_file(p)}
                      for p, pl in zip(paths, payloads)), key=lambda a: a["step"])
    meta = {**first, "metrics": {}, "step": sources[-1]["step"], "averaged_from": sources}
    meta.pop("shipped_name", None)
    return model, meta


def main(dst: str, sources: list[str]) -> None:
    if Path(dst).exists():
        raise SystemExit(f"{dst} exists; remove it first")
    model, meta = average([Path(s) for s in sources])
    checkpoint.save_checkpoint(Path(dst), model, meta)
    print(f"{dst}: the mean of {len(sources)} checkpoints, steps {[a['step'] for a in meta['averaged_from']]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dst", help="the .pt to write")
    parser.add_argument("sources", nargs="+", help="checkpoints of one run (last.pt copies, best.pt)")
    a = parser.parse_args()
    main(a.dst, a.sources)
