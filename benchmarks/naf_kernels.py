"""What the naf's fused channel norm, 1x1 convolutions as matrix products and folded residuals change on a CPU.

`denoise/models/naf.py` computes its channel norm with one `F.layer_norm` over a channels-last view, its
1x1 convolutions (`Pointwise`) as one matrix product over the channels of each pixel, and each block's two
residual branches (`scaled_residual`) with the channel attention and the learnt scale folded into the
output weight and the product accumulated into the input. Three arms: "plain" swaps in what it computed
first (the norm written out as mean, variance and scale; `nn.Conv2d`'s own forward, which sends 1x1 kernels
down PyTorch's generic CPU path; the block's attention, scale and addition as separate passes); "unfolded"
only the block's separate passes; "shipped" is the code as it is (whose training steps compute the
block as written, so "unfolded" and "shipped" differ only in the inference rows). They run in one process, taking turns
(the fastest of --repeat runs each, half as many for the pictures), with freed memory reused as every
command sets it:

- train: one float32 training step (AdamW) of a fresh naf with image-photo-naf's batch (16 patches of 96x96,
  colour) on --train-threads threads, for one and two blocks per level;
- infer: the shipped image-photo-naf on one 1024x1024 colour picture on one thread, the network alone;
- picture: the same model through `denoise image`'s path (`denoise.image.arrays.denoise_image_array`: tiles,
  batches, the threads it sets: the free cores) on a 1024x1024 and a 4032x3024 picture.

The last column is the largest difference between the arms' outputs (the same numbers to float rounding).

    python benchmarks/naf_kernels.py                 # about 6 minutes on 2 cores
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_times, machine, parser, table  # noqa: E402


def plain_norm(self, x):
    """ChannelNorm as it was written before: the statistics as separate elementwise passes."""
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    return (x - mu) * (var + self.eps).rsqrt() * self.weight + self.bias


def plain_pointwise(self, x):
    """Pointwise as nn.Conv2d computes it."""
    return self._conv_forward(x, self.weight, self.bias)


def arms() -> dict[str, list]:
    """Per arm, the patches that make it: none for the code as it is."""
    from denoise.models import naf

    unfolded = mock.patch.object(naf.NAFBlock, "fold", False)  # the blocks' training form at inference too
    return {"plain": [mock.patch.object(naf.ChannelNorm, "forward", plain_norm),
                      mock.patch.object(naf.Pointwise, "forward", plain_pointwise), unfolded],
            "unfolded": [unfolded], "shipped": []}


def in_arm(patches, fn):
    def run():
        with contextlib.ExitStack() as stack:
            for p in patches:
                stack.enter_context(p)
            return fn()
    return run


def train_row(blocks: int, threads: int, repeat: int) -> dict:
    import torch

    from denoise.models.naf import NAFUNet

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = NAFUNet(3, 3, blocks=blocks)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    x, target = torch.rand(16, 3, 96, 96), torch.rand(16, 3, 96, 96)

    def step():
        opt.zero_grad()
        loss = (model(x) - target).pow(2).mean()
        loss.backward()
        opt.step()

    def forward():
        with torch.no_grad():
            return model(x)

    return row(f"train step, blocks={blocks}, {threads} threads", step, forward, repeat)


def infer_row(repeat: int) -> dict:
    import torch

    from denoise.checkpoint import load

    torch.set_num_threads(1)
    model = load("image-photo-naf", "image", 3).eval()
    x = torch.rand(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.inference_mode():
            return model(x)

    return row("image-photo-naf, 1024x1024, 1 thread", forward, forward, repeat)


def picture_rows(repeat: int) -> list[dict]:
    import numpy as np
    import torch

    from denoise.checkpoint import load
    from denoise.image.arrays import denoise_image_array

    model = load("image-photo-naf", "image", 3).eval()
    rows = []
    for h, w in [(1024, 1024), (3024, 4032)]:
        picture = np.random.default_rng(1).random((h, w, 3), dtype=np.float32)

        def run():
            return torch.from_numpy(denoise_image_array(model, picture))

        rows.append(row(f"image-photo-naf via denoise_image_array, {w}x{h}", run, run, repeat))
    return rows


def row(name: str, timed, forward, repeat: int) -> dict:
    """Times ``timed`` in every arm, taking turns, and compares ``forward``'s outputs with the shipped arm's."""
    outputs = {k: in_arm(p, forward)() for k, p in arms().items()}
    t = best_times({k: in_arm(p, timed) for k, p in arms().items()}, repeat)
    diff = max((outputs[k] - outputs["shipped"]).abs().max().item() for k in outputs)
    return {"work": name, "plain s": t["plain"], "unfolded s": t["unfolded"], "shipped s": t["shipped"],
            "speed-up on plain": t["plain"] / t["shipped"], "on unfolded": t["unfolded"] / t["shipped"],
            "max |diff|": f"{diff:.1e}"}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--train-threads", type=int, default=2)
    args = ap.parse_args()
    from denoise.device import reuse_freed_cpu_memory

    reuse_freed_cpu_memory()
    print(f"# {machine()}\n")
    rows = [train_row(1, args.train_threads, args.repeat), train_row(2, args.train_threads, args.repeat),
            infer_row(args.repeat), *picture_rows(max(2, args.repeat // 2))]
    print(table(rows, floats=3))


if __name__ == "__main__":
    main()
