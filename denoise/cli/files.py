"""`denoise image` and `denoise audio`: files, directories and globs in, one result line per failure, a
summary and an exit status out."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, Optional

import click

from denoise.cli.common import (EXIT_FAILED, EXIT_OK, device_option, fail, load_model, log, quiet_option,
                                setup_logging, verbose_option)
from denoise.options import flags
from denoise.progress import Meter, shows_bar
from denoise.progress import bar as progress_bar
from denoise.signals import exit_on_interrupt


_BATCH_HELP = {"image": "Image tiles (512 pixels a side) per forward pass.  [default: 1 on the CPU (larger is no "
                        "faster there, only uses more memory); 8 on a GPU]",
               "audio": "Audio chunks (10 s each) per forward pass.  [default: 1 on the CPU (larger is no faster "
                        "there, only uses more memory); 4 on a GPU]"}


def common_options(domain: str) -> Callable[[Callable], Callable]:
    """The options of ``denoise image`` and ``denoise audio``, worded for ``domain``."""
    def decorate(f: Callable) -> Callable:
        for opt in reversed(_file_options(domain)):
            f = opt(f)
        return f

    return decorate


def _file_options(domain: str) -> list[Callable]:
    return [
        click.argument("inputs", nargs=-1, required=True),
        click.option("-o", "--output", default=None, metavar="PATH",
                     help="Output file (one input file) or directory (mirrors a directory input's tree, several "
                          "directories each under its own name; a trailing / forces a directory)."),
        click.option("--model", default="default", show_default=True, help="Shipped model name or checkpoint file."),
        device_option,
        click.option("--batch-size", default=None, type=click.IntRange(1), help=_BATCH_HELP[domain]),
        click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
                     help="Blend: 0 returns the input, 1 the fully denoised output."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("--skip-existing", is_flag=True, help="Skip inputs whose output already exists (resume a batch)."),
        quiet_option,
        verbose_option,
    ]


def _run_files(domain: str, inputs: tuple[str, ...], output: Optional[str], model: str, device: str,
               batch_size: Optional[int], strength: float, overwrite: bool, skip_existing: bool, quiet: bool,
               verbose: bool, ensemble: bool = False) -> None:
    from denoise import io

    setup_logging(quiet, verbose)
    t0 = time.perf_counter()
    try:  # before the model loads: a finished batch returns at once
        plan = io.plan(inputs, output, domain, overwrite, skip_existing)
    except io.InputError as exc:
        fail(flags(str(exc)))
    for item, reason in plan.errors:
        click.echo(f"failed: {item}: {flags(reason)}", err=True)
    for item, reason in [] if quiet else plan.skipped:
        click.echo(f"skipped: {item}: {reason}", err=True)
    counts = {"done": 0, "failed": len(plan.errors), "skipped": len(plan.skipped)}
    if plan.jobs:
        # the default image model is picked per file: gray and colour need different ones
        net = None if domain == "image" and model == "default" else load_model(model, domain, device)
        options = dict(overwrite=overwrite, skip_existing=skip_existing, strength=strength, batch_size=batch_size,
                       ensemble=ensemble)
        _denoise_jobs(domain, plan.jobs, net, model, device, options, quiet, counts)
    if not quiet:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} skipped in "
                   f"{time.perf_counter() - t0:.1f} s", err=True)
    raise SystemExit(EXIT_FAILED if counts["failed"] else EXIT_OK)


def _denoise_jobs(domain: str, jobs: list, net: Any, model: str, device: str, options: dict[str, Any],
                  quiet: bool, counts: dict[str, int]) -> None:
    """Runs the jobs under a progress bar, printing a line per skipped or failed file and counting them."""
    from denoise import io

    show_bar = shows_bar(quiet)
    nl = "\n" if show_bar else ""  # start a fresh line below the progress bar
    # what each file adds to the bar: seconds of audio or megapixels, so that one long recording or large
    # photo moves the bar too (fed chunk by chunk or tile batch by tile batch)
    size_of, unit = ((io.audio_seconds, "audio (seconds)") if domain == "audio" else
                     (io.image_megapixels, "images (megapixels)"))
    sizes = {job.src: size_of(job.src) if show_bar else 1.0 for job in jobs}
    total = sum(sizes.values())
    # outputs are written by rename, so every file that exists after Ctrl-C is complete
    with exit_on_interrupt(f"{nl}interrupted: every output file that exists is complete; run the same command "
                           "with --skip-existing to do the rest"), \
            progress_bar(math.ceil(total), f"denoising {unit}", quiet) as bar:
        meter = Meter(bar, total, len(jobs))
        results = _iter_results(domain, jobs, net, model, device, progress=meter.add if show_bar else None,
                                **options)
        # closing(): an interrupt that lands in this loop body, not inside the generator, still closes it at
        # once, so the output it holds open removes its temporary file before the message
        with contextlib.closing(results):
            for r in results:  # images: skipped files come first, so sizes go by source, not position
                meter.finish_file(sizes[r.src])
                _tally(r, counts, quiet, nl)


def _tally(r: Any, counts: dict[str, int], quiet: bool, nl: str) -> None:
    """Counts one file's result; a failure (and, without -q, a skip) gets its line."""
    counts[r.status] += 1
    if r.status == "done":
        log.info("%s -> %s (%.2f s)", r.src, r.dst, r.seconds)
    elif r.status == "failed" or not quiet:
        click.echo(f"{nl}{r.status}: {r.src}: {flags(r.reason)}", err=True)


def _iter_results(domain: str, jobs: list, net: Any, model: str, device: str, progress: Any = None,
                  **options: Any) -> Any:
    """``denoise_paths`` over the jobs; without ``net`` (the default image model) each file gets the model
    for its channels (see ``inference.denoise_decoded``), each loaded once."""
    from functools import lru_cache

    from denoise.inference import denoise_paths

    pick = net if net is not None else lru_cache(maxsize=None)(lambda ch: load_model(model, "image", device, ch))
    yield from denoise_paths(pick, jobs, audio_progress=progress, image_progress=progress, **options)


@click.command()
@common_options("image")
@click.option("--ensemble", is_flag=True,
              help="Average the model over the 8 flips and rotations of each image (x8 self-ensemble): "
                   "about 8 times slower (7.5 to 8.3 on a CPU), +0.06 to +0.09 dB PSNR on BSD68 / CBSD68.")
def image(**kw: Any) -> None:
    """Denoise images (png, jpg, bmp, tif, webp, gif): files, directories (recursive) or globs.

    Without -o each output is written beside its input as NAME.denoised.EXT. Format, size, bit depth
    (8/16), gray/colour and alpha are kept.
    """
    _run_files("image", **kw)


@click.command()
@common_options("audio")
def audio(**kw: Any) -> None:
    """Denoise audio (wav, flac, ogg and whatever libsndfile reads): files, directories or globs.

    Any sample rate and channel count; the output keeps rate, channels and (where possible) sample
    format. Long files are streamed in overlapping chunks.
    """
    _run_files("audio", **kw)
