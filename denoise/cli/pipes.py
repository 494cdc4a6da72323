"""`-` as input (standard input) or as `-o -` (standard output) for `denoise image` and `denoise audio`.

Only data goes to stdout; messages go to stderr. When the reader of stdout goes away (`| head -c 100`),
the command stops quietly with status 141, as a Unix tool killed by SIGPIPE.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Union

import click

from denoise.cli.common import EXIT_FAILED, EXIT_OK, fail, load_model, log, stdout_gone
from denoise.cli.options import flags

_FILE_ONLY = {"report": "--report", "as_json": "--json", "compare": "--compare", "spectrogram": "--spectrogram",
              "skip_existing": "--skip-existing"}


def is_pipe(kw: dict[str, Any]) -> bool:
    return "-" in kw["inputs"] or kw["output"] == "-"


def _check(domain: str, kw: dict[str, Any]) -> None:
    """One-line usage errors for what a pipe cannot do."""
    if len(kw["inputs"]) != 1:
        fail("'-' (standard input or output) takes exactly one input")
    from denoise.runner import sharding

    if sharding.from_environment().enabled:
        fail("'-' is one stream: run it without torchrun (every rank would read the same standard input)")
    for key, flag in _FILE_ONLY.items():
        if kw.get(key):
            fail(f"{flag} works on files, not with '-'")
    if kw["output"] is None and kw["inputs"][0] == "-":
        kw["output"] = "-"
    if domain == "audio":
        raw = [kw["raw_format"], kw["rate"], kw["channels"]]
        if kw["inputs"][0] != "-" and (any(v is not None for v in raw) or kw["stream"]):
            fail("--raw-format, --rate, --channels and --stream describe standard input: give '-' as the input")
        if any(v is not None for v in raw) and not all(v is not None for v in raw):
            fail("raw PCM needs all three of --raw-format, --rate and --channels")
    if kw["output"] != "-" and Path(kw["output"]).exists() and not kw["overwrite"]:
        fail(f"output exists: {kw['output']} (--overwrite replaces it)")


def _ends(kw: dict[str, Any]) -> tuple[Union[BinaryIO, Path], Union[BinaryIO, Path]]:
    src = sys.stdin.buffer if kw["inputs"][0] == "-" else Path(kw["inputs"][0])
    dst = sys.stdout.buffer if kw["output"] == "-" else Path(kw["output"])
    return src, dst


def run_pipe(domain: str, kw: dict[str, Any]) -> None:
    """Runs one pipe job and exits: 0 done, 1 bad input (one line on stderr), 141 stdout closed early."""
    from denoise import io

    _check(domain, kw)
    t0 = time.perf_counter()
    src, dst = _ends(kw)
    if domain == "image" and kw["model"] == "default":  # gray or colour: known once the picture is decoded
        from functools import lru_cache

        model: Any = lru_cache(maxsize=None)(lambda ch: load_model("default", "image", kw["device"], ch,
                                                                   kw["compile_model"]))
    else:
        model = load_model(kw["model"], domain, kw["device"], compile=kw["compile_model"])
    try:
        what = _image(model, src, dst, kw) if domain == "image" else _audio(model, src, dst, kw)
    except BrokenPipeError:
        stdout_gone()
    except (io.InputError, OSError, ValueError) as exc:
        click.echo(f"error: {flags(io.reason(exc))}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    log.info("%s in %.2f s", what, time.perf_counter() - t0)
    raise SystemExit(EXIT_OK)


def _image(model: Any, src: Union[BinaryIO, Path], dst: Union[BinaryIO, Path], kw: dict[str, Any]) -> str:
    from denoise import io
    from denoise.runner.pipes import denoise_image_bytes

    data = src.read_bytes() if isinstance(src, Path) else src.read()
    fmt = kw["image_format"] or (io.image_format_for(dst) if isinstance(dst, Path) else None)
    out = denoise_image_bytes(model, data, fmt, strength=kw["strength"], batch_size=kw["batch_size"],
                              ensemble=kw.get("ensemble", False))
    if isinstance(dst, Path):
        with io.atomic_output(dst, kw["overwrite"]) as tmp:
            tmp.write_bytes(out)
    else:
        dst.write(out)
        dst.flush()
    return f"image, {len(out)} bytes written"


def _audio(model: Any, src: Union[BinaryIO, Path], dst: Union[BinaryIO, Path], kw: dict[str, Any]) -> str:
    from denoise.io.pipes import PcmFormat
    from denoise.runner.pipes import denoise_audio_stream

    raw = None if kw["raw_format"] is None else PcmFormat(kw["raw_format"], kw["rate"], kw["channels"])
    done = denoise_audio_stream(model, src, dst, raw, kw["strength"], kw["stream"], kw["overwrite"])
    return f"{done['frames'] / done['sample_rate']:.2f} s of audio ({done['channels']} channel(s), {done['format']})"
