"""Command line. Parses options, calls the library, reports; no tensor code here.

torch, numpy and librosa are imported inside the commands, so ``denoise --help`` is instant. Exit codes:
0 all files succeeded, 1 any file (or the training run) failed, 2 usage errors (bad options, unknown
model, unavailable device), 130 interrupted (Ctrl-C), 143 / 129 terminated (SIGTERM / SIGHUP: ``kill``,
``timeout``, a batch scheduler, a closed terminal), with the same clean-up as Ctrl-C.
"""

from __future__ import annotations

from typing import Any

import click

from denoise.cli.average import average
from denoise.cli.estimate import estimate
from denoise.cli.evaluate import eval_cmd, models, score
from denoise.cli.export import export
from denoise.cli.files import audio, image
from denoise.cli.live import live
from denoise.cli.train import train
from denoise.signals import catch_termination, exit_on_interrupt


class _Group(click.Group):
    """Ctrl-C, SIGTERM or SIGHUP outside a command's own handler (while the arguments are parsed, torch
    imports or a model loads, before anything is written): "interrupted" and 130 / 143 / 129, where click
    would print "Aborted!" and exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with exit_on_interrupt():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with exit_on_interrupt():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="denoise")
def cli() -> None:
    """Remove noise from images and audio with convolutional denoising autoencoders.

    \b
    denoise image noisy.png -o clean.png
    denoise audio recordings/ -o cleaned/
    denoise train --domain image --data photos/ --out runs/mine
    """


for _command in (image, audio, live, train, average, eval_cmd, score, estimate, export, models):
    cli.add_command(_command)


def main() -> None:
    catch_termination()
    with exit_on_interrupt():
        cli.main(prog_name="denoise")
