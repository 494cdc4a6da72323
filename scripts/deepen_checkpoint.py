"""Writes a checkpoint of a U-Net one level deeper than a trained one, computing (almost) the same function
(see denoise.models.unet.deepen), to continue training with more capacity instead of starting over:

    python scripts/deepen_checkpoint.py checkpoints/image-gray.pt runs/image-gray-d3-init.pt
    denoise train --init runs/image-gray-d3-init.pt --out runs/image-gray-d3 ...

The new file keeps the source's metadata (training data, corruption) and records where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from denoise import checkpoint
from denoise.models import count_parameters
from denoise.models.unet import DenoisingUNet, deepen


def main(src: str, dst: str, seed: int = 0) -> None:
    model = checkpoint.load(src)
    if not isinstance(model.net, DenoisingUNet):
        raise SystemExit(f"{src} is not a dae U-Net")
    torch.manual_seed(seed)  # the new level's weights are drawn from the global generator
    net, args = deepen(model.net, model.config.args)
    config = dataclasses.replace(model.config, args=args)
    deeper = type(model)(net, config)  # the same domain wrapper around the deeper net
    meta = checkpoint.derived_meta(model, src, config, "deepened_from", seed=seed)
    checkpoint.save_checkpoint(Path(dst), deeper, meta)
    print(f"{dst}: {config.arch} {args}, {count_parameters(deeper)} parameters (from {count_parameters(model)})")
    # the promise: the same output up to the new level's small starting bias, except near the bottom and
    # right edges of sizes that the deeper net pads further (BSD68's 321x481 is not a multiple of 8)
    gen = torch.Generator().manual_seed(0)
    for h, w in [(64, 64), (321, 481)]:
        x = torch.rand(1, config.channels, h, w, generator=gen)
        with torch.no_grad():
            change = (deeper.eval()(x) - model(x)).abs()[0].amax(0)
        edge = max(change[-32:].max().item(), change[:, -32:].max().item())
        print(f"largest output change on {h}x{w} noise: {change[:-32, :-32].max().item():.1e}, "
              f"{edge:.1e} within 32 px of the bottom and right edges")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="a shipped image model's name or a .pt of a dae U-Net")
    parser.add_argument("dst", help="the .pt to write")
    parser.add_argument("--seed", type=int, default=0, help="for the new level's random initial weights")
    a = parser.parse_args()
    main(a.src, a.dst, a.seed)
