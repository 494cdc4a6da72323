"""`denoise export`: a model as ONNX, for programs without PyTorch."""

from __future__ import annotations

from pathlib import Path

import click

from denoise.cli.common import fail, load_model, quiet_option, setup_logging, verbose_option
from denoise.cli.options import flags


@click.command()
@click.argument("model")
@click.option("-o", "--output", required=True, metavar="FILE.onnx", help="Where to write the ONNX file.")
@click.option("--channels", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="For MODEL=default: export the gray (1) or the photo (3) image model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@quiet_option
@verbose_option
def export(model: str, output: str, channels: str, overwrite: bool, quiet: bool, verbose: bool) -> None:
    """Export MODEL (a shipped name, e.g. image-photo or audio-speech, or a checkpoint such as best.pt) to ONNX.

    \b
    Images: noisy (N, C, H, W) float32 in [0, 1] -> denoised, any height and width from 1 pixel (padded
            inside to the model's size multiple, as denoise image does).
    Audio:  features (N, 1, F, T) -> mask (N, 1, F, T) (and filter taps for a model with deep filtering),
            any number of frames from 1; the STFT and feature recipe around it is in the file's metadata
            (metadata_props), step by step.

    Needs onnx and onnxruntime (pip install onnx onnxruntime).
    """
    from denoise import io
    from denoise.export import MissingOnnx, export_onnx, require_onnx

    setup_logging(quiet, verbose)
    dst = Path(output)
    if dst.suffix.lower() != ".onnx":
        fail(f"the output must be a .onnx file, got {dst}")
    try:
        require_onnx()
        io.check_output_file(dst, overwrite)
        net = load_model(model, None, "cpu", int(channels))
        export_onnx(net, dst, overwrite)
    except (MissingOnnx, io.InputError) as exc:
        fail(flags(str(exc)))
    if not quiet:
        click.echo(f"{net.domain} model {model} -> {dst}", err=True)
