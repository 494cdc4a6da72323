"""`denoise eval`, `denoise score` and `denoise models`: measure, rank by anomaly, list what is shipped."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

from denoise.cli.common import (EXIT_FAILED, EXIT_OK, device_option, fail, load_model, quiet_option, setup_logging,
                                table, verbose_option)
from denoise.cli.progress import bar as progress_bar


@click.command("eval")
@click.option("--domain", type=click.Choice(["image", "audio"]), required=True, help="What to evaluate.")
@click.option("--data", "data_dir", default=None, help="Image: clean images.")
@click.option("--sigma", type=float, multiple=True, help="Image: noise σ on the 0-255 scale (repeatable or space-separated).")
@click.option("--speech", default=None, help="Audio: clean speech.")
@click.option("--noise", default=None, help="Audio: noise recordings.")
@click.option("--snr", type=float, multiple=True, help="Audio: SNR in dB (repeatable or space-separated).")
@click.option("--model", default="default", show_default=True, help="Shipped model name or checkpoint file.")
@device_option
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N files.")
@click.option("--ensemble", is_flag=True, help="Image: score the x8 self-ensemble (see `denoise image --help`).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the added noise (and the audio mixtures): the same seed scores the same inputs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@quiet_option
@verbose_option
@click.argument("extra", nargs=-1, type=float, metavar="[LEVEL]...")
def eval_cmd(domain: str, data_dir: Optional[str], sigma: tuple[float, ...], speech: Optional[str],
             noise: Optional[str], snr: tuple[float, ...], model: str, device: str, limit: Optional[int],
             seed: int, as_json: bool, quiet: bool, verbose: bool, extra: tuple[float, ...],
             ensemble: bool = False) -> None:
    """Add seeded noise in memory, denoise, and print noisy vs denoised scores. LEVELs after the options
    are more --sigma (image) or --snr (audio) values.

    \b
    denoise eval --domain image --data bsd68/ --sigma 15 25 50
    denoise eval --domain audio --speech speech/ --noise noise/ --snr 0 5 10
    """
    setup_logging(quiet, verbose)
    import math

    from denoise import io
    from denoise.training import evaluation
    from denoise.training.data import DataError

    levels = (sigma if domain == "image" else snr) + extra
    wrong = [opt for opt, given in (("--snr", snr), ("--speech", speech), ("--noise", noise)) if given] \
        if domain == "image" else [opt for opt, given in (("--sigma", sigma), ("--data", data_dir)) if given]
    if wrong:
        other = "audio" if domain == "image" else "image"
        takes = "--data and --sigma" if domain == "image" else "--speech, --noise and --snr"
        fail(f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for {other} eval; {domain} eval takes {takes}")
    if domain == "image":
        if not data_dir or not levels:
            fail("image eval needs --data and --sigma")
        if not all(0 <= s < math.inf for s in levels):
            fail("--sigma must be a number >= 0")
    elif not speech or not noise or not levels:
        fail("audio eval needs --speech, --noise and --snr")
    elif ensemble:
        fail("--ensemble is for image eval only")
    elif not all(math.isfinite(s) for s in levels):
        fail("--snr must be a finite number of dB")
    try:
        if domain == "image":
            files = evaluation.eval_image_files(data_dir, limit)
            ch = io.image_channels(files[0]) if files and model == "default" else 1
            net = load_model(model, "image", device, ch)
            with progress_bar(len(files) * len(levels), "denoising images", quiet) as bar:
                rows = evaluation.eval_images(net, data_dir, levels, seed=seed, limit=limit, ensemble=ensemble,
                                              tick=lambda: bar.update(1))
        else:
            net = load_model(model, "audio", device)
            count = len(evaluation.eval_speech_files(speech, limit))
            with progress_bar(count * len(levels), "denoising mixtures", quiet) as bar:
                rows = evaluation.eval_audio(net, speech, noise, levels, seed=seed, limit=limit,
                                             tick=lambda: bar.update(1))
    except (io.InputError, DataError) as exc:
        fail(str(exc), EXIT_FAILED)
    if as_json:
        click.echo(io.to_json({"domain": domain, "model": model, "rows": rows}, indent=2))
        return
    click.echo(table(rows))


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--domain", type=click.Choice(["auto", "image", "audio"]), default="auto", show_default=True,
              help="auto: from --model, else from the files (extensions, or what directories hold).")
@click.option("--model", default="default", show_default=True,
              help="Shipped model name or checkpoint file. For images, default is image-gray or image-color "
                   "by the first file's channels: one model for every file, so that the scores compare.")
@device_option
@click.option("--batch-size", default=None, type=click.IntRange(1),
              help="Image tiles or audio chunks per forward pass.  [default: 1 on the CPU, more on a GPU]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (rank,score,unit,path,error).")
@quiet_option
@verbose_option
def score(inputs: tuple[str, ...], domain: str, model: str, device: str, batch_size: Optional[int], as_json: bool,
          as_csv: bool, quiet: bool, verbose: bool) -> None:
    """Rank files by how badly the autoencoder reconstructs them (anomaly score), most unusual first.

    Train a model on normal data only (denoise train ...), then score new files with --model best.pt.
    Images: mean squared error per pixel value; audio: residual energy / input energy.
    """
    setup_logging(quiet, verbose)
    from denoise import io, scoring

    if as_json and as_csv:
        fail("--json and --csv contradict each other")
    if domain == "auto":
        domain = _domain_of(model, inputs)
    plan = io.plan_jobs(inputs, None, io.IMAGE_EXTS if domain == "image" else io.AUDIO_EXTS)
    mixed = {job.src: io.other_domain(job.src, domain) for job in plan.jobs}  # score --domain audio photo.png
    plan.errors += [(str(src), f"an {other} file: use --domain {other}") for src, other in mixed.items() if other]
    files = [job.src for job in plan.jobs if not mixed[job.src]]
    ch = 1
    if domain == "image" and model == "default" and files:
        try:
            ch = io.image_channels(files[0])
        except io.InputError:
            pass
    results = [scoring.FileScore(Path(item), None, reason) for item, reason in plan.errors]
    if files:
        net = load_model(model, domain, device, ch)
        with progress_bar(len(files), "scoring files", quiet) as bar:
            for result in scoring.score_files(net, files, batch_size):
                results.append(result)
                bar.update(1)
    rows = scoring.ranked(results)
    unit = scoring.UNITS[domain]
    records = [{"rank": i + 1 if r.score is not None else None, "score": r.score, "unit": unit,
                "path": str(r.path), "error": r.error} for i, r in enumerate(rows)]
    if as_json:
        click.echo(io.to_json(records, indent=2))
    elif as_csv:
        io.write_csv(sys.stdout, list(records[0]) if records else ["rank"], records)
    else:
        for r in records:
            if r["score"] is not None:
                click.echo(f"{r['rank']:>5}  {r['score']:.6g}  {r['path']}")
    for r in records:
        if r["error"] is not None:
            click.echo(f"failed: {r['path']}: {r['error']}", err=True)
    if not records:
        fail("no input files found", EXIT_FAILED)
    raise SystemExit(EXIT_FAILED if any(r["error"] for r in records) else EXIT_OK)


def _domain_of(model: str, inputs: tuple[str, ...]) -> str:
    """The domain of --model (a checkpoint file or a shipped name), else of the inputs: their extensions,
    or for directories the kind of files found in them."""
    import glob
    import os

    from denoise import io
    from denoise.checkpoint import CheckpointError, manifest, read_checkpoint

    if os.path.isfile(model):
        try:
            return str(read_checkpoint(model)["meta"]["domain"])
        except CheckpointError as exc:
            fail(str(exc))
    shipped = manifest().get(model)
    if shipped is not None:
        return str(shipped["domain"])
    exts = {os.path.splitext(p)[1].lower() for p in inputs if os.path.splitext(p)[1]}
    if exts and exts <= io.AUDIO_EXTS:
        return "audio"
    if exts and exts <= io.IMAGE_EXTS:
        return "image"
    found = {"image" if job.src.suffix.lower() in io.IMAGE_EXTS else "audio"
             for job in io.plan_jobs(inputs, None, io.IMAGE_EXTS | io.AUDIO_EXTS).jobs}
    if len(found) == 1:
        return found.pop()
    if not found:
        missing = [p for p in inputs if not os.path.lexists(p) and not glob.has_magic(p)]
        fail(f"no such file or directory: {', '.join(missing)}" if missing else "no image or audio files found",
              EXIT_FAILED)
    fail("both images and audio here; pass --domain image or --domain audio")


@click.command()
@click.option("--archs", is_flag=True, help="List the architectures that `train --arch` accepts, with the "
              "--arch-args each takes and their defaults.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (or, with --archs, the list) as JSON.")
def models(archs: bool, as_json: bool) -> None:
    """List the shipped models: what each is for, and which is the default for what (--json: the whole
    manifest, with architecture, size and training data)."""
    if archs:
        from denoise.models import available, default_arch_args, describe, domains

        from denoise.checkpoint import manifest

        shipped = manifest()
        found = [{"arch": a, "summary": describe(a)["summary"],
                  "shipped": sorted(n for n, e in shipped.items() if e.get("arch") == a),
                  "defaults": {d: default_arch_args(d, a) for d in domains(a)}} for a in available()]
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        for f in found:  # not _table: the argument lists are too long for columns
            shipped = f" (shipped: {', '.join(f['shipped'])})" if f["shipped"] else ""
            click.echo(f"{f['arch']}: {f['summary']}{shipped}")
            for d, args in f["defaults"].items():
                click.echo(f"    {d}: {json.dumps(args)}")
        click.echo("These are `denoise train --arch NAME`'s defaults per domain; --arch-args '{\"width\": 16}' "
                   "changes some of them.")
        return
    from denoise.checkpoint import checkpoints_dir, manifest

    entries = manifest()
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo(f"no shipped models found in {checkpoints_dir()}")
        return
    from denoise.checkpoint import default_name

    defaults = {default_name("image", 1): "gray images", default_name("image", 3): "colour images",
                default_name("audio"): "audio"}
    rows = [{"name": n, "default for": defaults.get(n, "–"), "made for": e.get("purpose", "")}
            for n, e in sorted(entries.items())]
    click.echo(table(rows))
