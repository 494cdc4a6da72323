"""`denoise estimate`: how noisy files are, without denoising them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from denoise.cli.common import EXIT_FAILED, EXIT_OK, fail, quiet_option, setup_logging, verbose_option
from denoise.cli.options import flags
from denoise.cli.progress import bar as progress_bar

_COLUMNS = ["path", "domain", "sigma", "sigma_per_channel", "snr_db", "noise_floor_dbfs", "unmeasurable", "error"]


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per file.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (" + ",".join(_COLUMNS) + ").")
@quiet_option
@verbose_option
def estimate(inputs: tuple[str, ...], as_json: bool, as_csv: bool, quiet: bool, verbose: bool) -> None:
    """Estimate the noise in images and audio files (or directories, or globs) without denoising.

    \b
    Images: sigma, the standard deviation of a Gaussian noise of the same strength on the 0-255
            scale, overall and per channel (weak-texture patches, Liu et al. 2013 / Chen et al. 2015).
    Audio:  the SNR in dB and the noise floor in dBFS (RMS; a full-scale sine is -3 dBFS), from the
            quietest moments of each frequency band; files over 5 minutes are sampled.

    Both assume random, steady noise: noise that comes and goes reads as signal.
    """
    from denoise import io

    setup_logging(quiet, verbose)
    if as_json and as_csv:
        fail("--json and --csv contradict each other")
    plan = io.plan_jobs(inputs, None, io.IMAGE_EXTS | io.AUDIO_EXTS)
    records = [_record(Path(item), None, flags(reason)) for item, reason in plan.errors]
    with progress_bar(len(plan.jobs), "estimating files", quiet) as bar:
        for job in plan.jobs:
            records.append(_estimate_one(job.src))
            bar.update(1)
    if not records:
        fail("no input files found", EXIT_FAILED)
    _print(records, as_json, as_csv)
    for r in records:
        if r["error"] is not None:
            click.echo(f"failed: {r['path']}: {r['error']}", err=True)
    raise SystemExit(EXIT_FAILED if any(r["error"] for r in records) else EXIT_OK)


def _record(path: Path, found: dict[str, Any] | None, error: str | None = None) -> dict[str, Any]:
    from denoise import io

    rec: dict[str, Any] = dict.fromkeys(_COLUMNS)
    rec.update(path=str(path), domain=io.domain_of(path), error=error)
    rec.update(found or {})
    return rec


def _estimate_one(path: Path) -> dict[str, Any]:
    """One file's row; a file that cannot be read or judged gets its reason instead, and the batch goes on."""
    from denoise import io
    from denoise.report.estimate import estimate_file
    try:
        return _record(path, estimate_file(path))
    except (io.InputError, OSError, ValueError, MemoryError) as exc:
        return _record(path, None, io.reason(exc))


def _print(records: list[dict[str, Any]], as_json: bool, as_csv: bool) -> None:
    from denoise import io

    if as_json:
        click.echo(io.to_json(records, indent=2))
    elif as_csv:
        io.write_csv(sys.stdout, _COLUMNS, ({**r, "sigma_per_channel": " ".join(
            "" if s is None else str(s) for s in r["sigma_per_channel"] or [])} for r in records))
    else:
        for r in records:
            if r["error"] is not None:
                continue
            if r["domain"] == "image":
                if r.get("unmeasurable"):
                    click.echo(f"sigma not measurable ({r['unmeasurable']})  {r['path']}")
                    continue
                num = lambda v, f: "–" if v is None else format(v, f)  # noqa: E731 -- unknown: too clipped
                chans = "" if len(r["sigma_per_channel"]) < 2 else \
                    " (" + " / ".join(num(s, ".1f") for s in r["sigma_per_channel"]) + ")"
                click.echo(f"sigma {num(r['sigma'], '6.2f')}{chans}  {r['path']}")
            else:
                db = lambda v, unit: "not measurable" if v is None else f"{v:6.1f} {unit}"  # noqa: E731
                why = f" ({r['unmeasurable']})" if r.get("unmeasurable") else ""
                click.echo(f"SNR {db(r['snr_db'], 'dB')}, noise floor {db(r['noise_floor_dbfs'], 'dBFS')}{why}  "
                           f"{r['path']}")
