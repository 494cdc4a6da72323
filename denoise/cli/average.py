"""`denoise average`: the mean of several checkpoints of one training run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from denoise.cli.common import fail, quiet_option, setup_logging, verbose_option
from denoise.cli.options import flags


@click.command()
@click.argument("output", metavar="OUT.pt")
@click.argument("checkpoints", nargs=-1, required=True, metavar="CHECKPOINT...")
@click.option("--last", type=int, default=None, metavar="N",
              help="Average only the N latest of the checkpoints given, by training step.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.pt.")
@quiet_option
@verbose_option
def average(output: str, checkpoints: tuple[str, ...], last: Optional[int], overwrite: bool, quiet: bool,
            verbose: bool) -> None:
    """Write OUT.pt, a model whose every weight is the mean over CHECKPOINT... of one training run.

    \b
    denoise train ... --out runs/mine --snapshots
    denoise average runs/mine/averaged.pt runs/mine/snapshots/*.pt --last 6

    Weights a few evaluations apart on one run often score better averaged than any one of them; compare
    the result with the run's best.pt on data the run did not train on (denoise eval). OUT.pt records each
    source's step and SHA-256.
    """
    from denoise import checkpoint, io

    setup_logging(quiet, verbose)
    dst = Path(output)
    if dst.suffix.lower() != ".pt":
        fail(f"the output must be a .pt file, got {dst}")
    try:
        io.check_output_file(dst, overwrite)
        model, meta = checkpoint.average([Path(c) for c in checkpoints], last)
        checkpoint.save_checkpoint(dst, model, meta)
    except (checkpoint.CheckpointError, io.InputError) as exc:
        fail(flags(str(exc)))
    if not quiet:
        steps = ", ".join(str(a["step"]) for a in meta["averaged_from"])
        click.echo(f"{dst}: the mean of {len(meta['averaged_from'])} checkpoints (steps {steps})", err=True)
