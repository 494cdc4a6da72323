"""`denoise image` and `denoise audio`: files, directories and globs in, one result line per failure, a
summary and an exit status out."""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import click

from denoise.cli.common import (EXIT_FAILED, EXIT_OK, device_option, fail, load_model, log, quiet_option,
                                setup_logging, stdout_gone, verbose_option)
from denoise.cli.options import flags
from denoise.cli.progress import Meter, shows_bar
from denoise.cli.progress import bar as progress_bar
from denoise.config import DEFAULT_NAMES
from denoise.signals import exit_on_interrupt


_BATCH_HELP = {"image": "Image tiles (up to 512 pixels a side) per forward pass, from one picture or several of the "
                        "same size.  [default: 1 on the CPU (larger is no faster there, only uses more memory); "
                        "8 on a GPU]",
               "audio": "Audio chunks (10 s each) per forward pass.  [default: 1 on the CPU (larger is no faster "
                        "there, only uses more memory); 4 on a GPU]"}


def common_options(domain: str) -> Callable[[Callable], Callable]:
    """The options of ``denoise image`` and ``denoise audio``, worded for ``domain``."""
    def decorate(f: Callable) -> Callable:
        for opt in reversed(_file_options(domain)):
            f = opt(f)
        return f

    return decorate


def _default_models(domain: str) -> str:
    """What --model default picks, for the help: denoise.config.DEFAULT_NAMES' first choices."""
    if domain == "image":
        return f"{DEFAULT_NAMES[('image', 1)][0]} for gray pictures, {DEFAULT_NAMES[('image', 3)][0]} for colour ones."
    return f"{DEFAULT_NAMES[('audio', 1)][0]}."


def _file_options(domain: str) -> list[Callable]:
    return [
        click.argument("inputs", nargs=-1, required=True),
        click.option("-o", "--output", default=None, metavar="PATH",
                     help="Output file (one input file) or directory (mirrors a directory input's tree, several "
                          "directories each under its own name; a trailing / forces a directory)."),
        click.option("--model", default="default", show_default=True,
                     help="A shipped model (denoise models) or a checkpoint file such as runs/x/best.pt; default: " +
                     _default_models(domain)),
        device_option,
        click.option("--batch-size", default=None, type=click.IntRange(1), help=_BATCH_HELP[domain]),
        click.option("--strength", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
                     help="Blend: 0 returns the input, 1 the fully denoised output."),
        click.option("--compile", "compile_model", is_flag=True,
                     help="Compile the model with torch.compile first: 2 to 13 s on a CPU, after which a "
                          f"{'tile' if domain == 'image' else 'chunk'} took 6 to 15 % less time there; for long "
                          "runs. Off by default."),
        click.option("--workers", default=None, type=click.IntRange(1),
                     help="Threads that decode and encode files while the model runs.  [default: the CPU count, "
                          "at most 8]"),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("--skip-existing", is_flag=True, help="Skip inputs whose output already exists (resume a batch)."),
        click.option("--report", default=None, metavar="PATH.html",
                     help="Also write an HTML page showing every file before and after, with noise estimates "
                          "(media in PATH_files/ beside it; opens offline)." +
                          (" Needs matplotlib (pip install matplotlib)." if domain == "audio" else "")),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object per file on stdout (input, output, status, reason, seconds, "
                          "noise before and after), then a summary object."),
        quiet_option,
        verbose_option,
    ]


@dataclass
class _Run:
    """One ``denoise image`` / ``denoise audio`` invocation: what it was asked for and how it is going."""

    domain: str
    quiet: bool
    as_json: bool
    extras: Any  # report.Extras
    shard: Any  # sharding.Shard: this process's part of a torchrun job
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "failed": 0, "skipped": 0})
    models: dict[str, Any] = field(default_factory=dict)  # name shown -> loaded model, for the report
    t0: float = field(default_factory=time.perf_counter)

    def emit(self, rec: dict[str, Any], nl: str = "") -> None:
        """A file's record: counted, its line on stderr (failures; skips without -q), JSON on stdout. Names
        are shown escaped (io.shown_name), so that every message is one line."""
        from denoise import io

        self.counts[rec["status"]] += 1
        if rec["status"] == "done":
            log.info("%s -> %s (%.2f s)%s", io.shown_name(rec["input"]), io.shown_name(rec["output"]),
                     rec["seconds"], _noise_text(rec))
            if rec.get("extras_error"):
                click.echo(nl + io.shown_name(f"warning: {rec['output']}: written, but its pictures or report entry "
                                              f"not: {flags(rec['extras_error'])}"), err=True)
        elif rec["status"] == "failed" or not self.quiet:
            click.echo(nl + io.shown_name(f"{rec['status']}: {rec['input']}: {flags(rec['reason'] or '')}"), err=True)
        if self.as_json:
            click.echo(io.to_json(rec))


def _noise_text(rec: dict[str, Any]) -> str:
    from denoise.report.html import noise_summary

    text = noise_summary(rec)
    return f", {text}" if text else ""


def _extras(domain: str, kw: dict[str, Any]) -> Any:
    """The per-file extras asked for (estimates for --json, -v and the report), or a one-line error."""
    from denoise import io
    from denoise.report.records import Extras, Report
    from denoise.report.visuals import MissingExtra

    try:
        report = None if kw["report"] is None else Report(Path(kw["report"]), domain, kw["overwrite"])
        return Extras(domain, estimates=kw["as_json"] or kw["verbose"], compare=kw.get("compare", False),
                      spectrogram=kw.get("spectrogram", False), overwrite=kw["overwrite"], report=report)
    except (io.InputError, MissingExtra) as exc:
        fail(flags(str(exc)))


def _run_files(domain: str, **kw: Any) -> None:
    setup_logging(kw["quiet"], kw["verbose"])
    from denoise.cli.pipes import is_pipe, run_pipe

    if is_pipe(kw):
        run_pipe(domain, kw)
    run = _Run(domain, kw["quiet"], kw["as_json"], _extras(domain, kw), _shard(kw))
    report = run.extras.report
    try:
        _run_planned(run, domain, kw)
    finally:
        if report is not None:
            report.release()


def _run_planned(run: _Run, domain: str, kw: dict[str, Any]) -> None:
    """Plans the run, says what cannot be done, denoises the rest and sums up (exits)."""
    from denoise import io

    try:  # before the model loads: a finished batch returns at once
        plan = io.plan(kw["inputs"], kw["output"], domain, kw["overwrite"], kw["skip_existing"])
        if run.extras.report is not None:
            run.extras.report.check_outputs([job.dst for job in plan.jobs])
    except io.InputError as exc:
        fail(flags(str(exc)))
    jobs = _my_share(run, plan, domain)
    if run.shard.is_main:  # every rank has the same plan: its failures and skips are said once
        for status, items in (("failed", plan.errors), ("skipped", plan.skipped)):
            for item, reason in items:  # a namespace, not runner.results.FileResult: no torch import needed
                run.emit(run.extras.record(SimpleNamespace(src=item, dst=None, status=status, reason=reason,
                                                           seconds=0.0)))
    try:
        if jobs:
            _denoise_jobs(run, jobs, kw)
        _finish(run, kw)
    except BrokenPipeError:  # --json's reader went away: the files written so far are complete
        done = run.counts["done"]
        stdout_gone(f"error: the reader of the JSON output went away: stopped after {done} file(s) done; run the "
                    "same command with --skip-existing to do the rest")


def _shard(kw: dict[str, Any]) -> Any:
    """This process's part under torchrun (a whole run without it); each rank on its own GPU."""
    from denoise.runner import sharding

    shard = sharding.from_environment()
    if shard.enabled:
        if kw["report"] is not None:
            fail("--report is written by one process: run it without torchrun, or use --json on each rank")
        sharding.join(shard)
        kw["device"] = sharding.device_for(shard, kw["device"])
    return shard


def _my_share(run: _Run, plan: Any, domain: str) -> list:
    """The jobs of this rank: the same plan on every rank (checked), split by size."""
    from denoise.runner import sharding

    if not run.shard.enabled:
        return plan.jobs
    listed = [str(j.src) for j in plan.jobs] + [f"{s}: {r}" for s, r in [*plan.errors, *plan.skipped]]
    if not sharding.same_plan_everywhere(run.shard, listed):
        fail("the ranks found different files to do (were files written or removed meanwhile?); run again",
             EXIT_FAILED)
    size_of = _weight(domain)[0]
    return sharding.share(plan.jobs, [size_of(j.src) for j in plan.jobs], run.shard)


def _finish(run: _Run, kw: dict[str, Any]) -> None:
    """The report (its failure loses no output, but fails the run), the summary line, the exit status."""
    from denoise import io

    seconds = time.perf_counter() - run.t0
    report = run.extras.report
    if report is not None:
        try:
            report.write(_report_header(run, kw, seconds))
            if not run.quiet:
                click.echo(f"report: {report.path}", err=True)
        except OSError as exc:
            click.echo(f"error: report not written: {io.reason(exc)} (the denoised files are kept)", err=True)
            run.counts["failed"] += 1
    from denoise.runner import sharding

    counts = sharding.merged_counts(run.shard, run.counts)
    sharding.leave(run.shard)
    if run.as_json and run.shard.is_main:  # one summary, of every rank's files, as the text line says
        summary = {**counts, "seconds": round(seconds, 3)}
        if run.shard.enabled:
            summary["ranks"] = run.shard.world_size
        click.echo(io.to_json({"summary": summary}))
    if not run.quiet and run.shard.is_main:
        ranks = f" on {run.shard.world_size} ranks" if run.shard.enabled else ""
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} skipped in "
                   f"{seconds:.1f} s{ranks}", err=True)
    raise SystemExit(EXIT_FAILED if counts["failed"] else EXIT_OK)


def _report_header(run: _Run, kw: dict[str, Any], seconds: float) -> dict[str, Any]:
    from denoise.checkpoint import sha256_file

    models = [{"name": name, "sha256": sha256_file(Path(m.source))} for name, m in run.models.items()]
    settings = {"model": kw["model"], "strength": kw["strength"], "device": kw["device"],
                "batch size": kw["batch_size"] or "default", "output": kw["output"] or "beside each input"}
    if kw.get("ensemble"):
        settings["x8 ensemble"] = "yes"
    return {"totals": {**run.counts, "seconds": seconds}, "models": models, "settings": settings,
            "media_folder": run.extras.report.media.name}


def _weight(domain: str) -> tuple[Callable[[Any], float], str]:
    """What a file weighs, from its header, and the unit: for the progress bar and the ranks' shares."""
    from denoise import io

    return (io.audio_seconds, "audio (seconds)") if domain == "audio" else (io.image_megapixels,
                                                                             "images (megapixels)")


def _denoise_jobs(run: _Run, jobs: list, kw: dict[str, Any]) -> None:
    """Runs the jobs under a progress bar, emitting a record per file."""
    domain = run.domain
    show_bar = shows_bar(run.quiet)
    nl = "\n" if show_bar else ""  # start a fresh line below the progress bar
    # what each file adds to the bar: seconds of audio or megapixels, so that one long recording or large
    # photo moves the bar too (fed chunk by chunk or tile batch by tile batch)
    size_of, unit = _weight(domain)
    sizes = {job.src: size_of(job.src) if show_bar else 1.0 for job in jobs}
    total = sum(sizes.values())
    options = {k: kw[k] for k in ("overwrite", "skip_existing", "strength", "batch_size")}
    options["workers"] = kw["workers"] or min(8, os.cpu_count() or 1)
    options["ensemble"] = kw.get("ensemble", False)
    model = _model_choice(run, kw)
    # outputs are written by rename, so every file that exists after Ctrl-C is complete
    with exit_on_interrupt(f"{nl}interrupted: every output file that exists is complete; run the same command "
                           "with --skip-existing to do the rest"), \
            progress_bar(math.ceil(total), f"denoising {unit}", run.quiet) as bar:
        meter = Meter(bar, total, len(jobs))
        results = _iter_results(domain, jobs, model, progress=meter.add if show_bar else None,
                                **options)
        # closing(): an interrupt that lands in this loop body, not inside the generator, still closes it at
        # once, so the output it holds open removes its temporary file before the message
        with contextlib.closing(results):
            for r in results:  # images: skipped files come first, so sizes go by source, not position
                meter.finish_file(sizes[r.src])
                run.emit(run.extras.record(r), nl)


def _model_choice(run: _Run, kw: dict[str, Any]) -> Any:
    """The model, or for the default image model a choice by channel count (gray and colour pictures need
    different ones), each loaded once and remembered for the report."""
    from functools import lru_cache

    model, device = kw["model"], kw["device"]

    def loaded(channels: int = 1) -> Any:
        net = load_model(model, run.domain, device, channels, kw["compile_model"])
        run.models[Path(net.source).stem if model == "default" else model] = net
        return net

    if run.domain == "image" and model == "default":
        return lru_cache(maxsize=None)(loaded)
    return loaded()


def _iter_results(domain: str, jobs: list, model: Any, progress: Any = None, **options: Any) -> Any:
    """``denoise_paths`` over the jobs with ``model`` (a model or a choice by channel count)."""
    from denoise.runner.files import denoise_paths

    yield from denoise_paths(model, jobs, audio_progress=progress, image_progress=progress, **options)


@click.command()
@common_options("image")
@click.option("--format", "image_format", default=None, metavar="FORMAT",
              help="With -o -: the image format on standard output (png, jpeg, tiff, webp, ...).  [default: the "
                   "input's]")
@click.option("--ensemble", is_flag=True,
              help="Average the model over the 8 flips and rotations of each image (x8 self-ensemble): "
                   "about 8 times slower (7.5 to 8.3 on a CPU), +0.06 to +0.09 dB PSNR on BSD68 / CBSD68.")
@click.option("--compare", is_flag=True,
              help="Also write NAME.compare.png beside each output: before and after side by side, with an "
                   "enlarged detail.")
@click.option("--spectrogram", "other_domain_option", is_flag=True, hidden=True, expose_value=False,
              help="(For audio: says to use --compare.)",
              callback=lambda ctx, p, v: v and fail("--spectrogram is for audio; for pictures, --compare writes "
                                                    "NAME.compare.png, before and after side by side"))
def image(**kw: Any) -> None:
    """Denoise images (png, jpg, bmp, tif, webp, gif): files, directories (recursive) or globs; '-' reads
    standard input, -o - writes standard output (cat a.png | denoise image - -o - > b.png).

    Without -o each output is written beside its input as NAME.denoised.EXT. Format, size, bit depth
    (8/16), gray/colour and alpha are kept.
    """
    _run_files("image", **kw)


@click.command()
@common_options("audio")
@click.option("--raw-format", type=click.Choice(["u8", "s16le", "s24le", "s32le", "f32le", "f64le"]), default=None,
              help="Standard input is raw PCM of this sample format (with --rate and --channels), not WAV; the "
                   "output is then raw too.")
@click.option("--rate", type=click.IntRange(1), default=None, help="Sample rate of raw PCM on standard input.")
@click.option("--channels", type=click.IntRange(1), default=None, help="Channels of raw PCM on standard input.")
@click.option("--stream", is_flag=True,
              help="Standard input only, for live audio: each block is written as soon as it is done. A causal "
                   "model (crn) runs frame by frame with 32 ms of algorithmic delay at 16 kHz (35 ms at "
                   "44.1/48 kHz); others run in 0.1 s chunks with 0.32 s of delay. The output differs slightly "
                   "from a file run's.")
@click.option("--spectrogram", is_flag=True,
              help="Also write NAME.spectrogram.png beside each output: spectrograms before and after (the "
                   "first 20 s). Needs matplotlib (pip install matplotlib).")
@click.option("--compare", "other_domain_option", is_flag=True, hidden=True, expose_value=False,
              help="(For pictures: says to use --spectrogram.)",
              callback=lambda ctx, p, v: v and fail("--compare is for pictures; for audio, --spectrogram writes "
                                                    "NAME.spectrogram.png, before and after"))
def audio(**kw: Any) -> None:
    """Denoise audio (wav, flac, ogg and whatever libsndfile reads): files, directories or globs; '-' reads
    a WAV stream (or raw PCM) on standard input, -o - writes standard output, chunk by chunk as it flows
    (ffmpeg -i talk.mp4 -f wav - | denoise audio - -o - | ffmpeg -i - clean.flac).

    Any sample rate and channel count; the output keeps rate, channels and (where possible) sample
    format. Long files are streamed in overlapping chunks.
    """
    _run_files("audio", **kw)
