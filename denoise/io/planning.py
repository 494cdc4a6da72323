"""Planning a run before any model loads: which files the inputs name (one discovery rule for inference,
training and evaluation), where each output goes, and which jobs cannot be done (unwritable, undecodable,
this run's own outputs, outputs that exist)."""

from __future__ import annotations

import functools
import glob
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from denoise.io.atomic import create_temp
from denoise.io.audio import audio_format_for
from denoise.io.base import (AUDIO_EXTS, DENOISED_TAG, IMAGE_EXTS, UNREADABLE_EXTS, InputError, is_own_picture,
                             is_report_media, other_domain)
from denoise.io.images import image_format_for

log = logging.getLogger("denoise.io")


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (input as given, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, reason): not an error, nothing to do


def not_regular(path: Path) -> Optional[str]:
    """Why ``path`` cannot be read as a file, or None for a regular file (or a link to one): the one rule,
    for a file named on the command line as for one a scan finds. A named pipe would block its reader
    forever, and a device could be endless."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "no such file or directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"not a regular file ({kind})"


@dataclass
class _Scan:
    found: list[Path] = field(default_factory=list)
    tagged: int = 0  # earlier outputs (NAME.denoised.EXT) left out
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): left out, and said why


def _walk(root: Path, exts: frozenset[str], exclude: Optional[Path], skip_tagged: bool) -> _Scan:
    """Files under ``root`` with a matching extension, sorted. Symlinked directories are not followed (no
    loops); hidden entries (our temporary files start with '.') and ``exclude`` are not looked at. What
    a run wrote itself is left out (report media folders, pictures beside outputs: :func:`is_report_media`,
    :func:`is_own_picture`; with ``skip_tagged``, earlier outputs ``NAME.denoised.EXT``), and so is
    anything that is not a regular file (:func:`not_regular`), each with its reason in ``skipped``."""
    scan = _Scan()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        for n in [n for n in dirnames if is_report_media(d / n)]:
            scan.skipped.append((str(d / n), "the media folder of a report denoise wrote"))
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".") and not is_report_media(d / n)
                             and (exclude is None or (d / n).resolve() != exclude))
        stems = frozenset(Path(n).stem for n in filenames)
        for name in sorted(filenames):
            p = d / name
            if name.startswith(".") or p.suffix.lower() not in exts:
                continue
            why = ("a picture denoise wrote beside an output" if is_own_picture(p, stems) else not_regular(p))
            if why is not None:
                scan.skipped.append((str(p), why))
            elif skip_tagged and Path(name).stem.endswith(DENOISED_TAG):
                scan.tagged += 1  # an earlier run's output written beside its input
            else:
                scan.found.append(p)
    return scan


def list_files(paths: Sequence[str | Path], exts: frozenset[str]) -> list[Path]:
    """The one rule for finding files, for training and evaluation data as for the inputs of a run: a file
    is taken as it is; a directory is searched recursively, in sorted order, without hidden entries or
    symlinked directories (no loops), and without what :func:`_walk` leaves out (logged, with a count).
    Raises InputError for a path that does not exist or is not a regular file."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            scan = _walk(path, exts, None, skip_tagged=False)
            found += scan.found
            if scan.skipped:
                log.info("%s: %d entries left out, e.g. %s: %s", path, len(scan.skipped), *scan.skipped[0])
            continue
        why = not_regular(path)
        if why == "no such file or directory":
            raise InputError(f"no such file or directory: {path}")
        if why is not None:
            raise InputError(f"{path}: {why}")
        found += [path] if path.suffix.lower() in exts else []
    return found


def _none_found(what: str, tagged: int) -> str:
    if tagged:  # say why a folder of earlier outputs gives nothing to do
        return f"{what} except earlier outputs (NAME{DENOISED_TAG}.EXT), which are inputs only with -o"
    return what


def _check_output_directory(inputs: Sequence[str], output: str, out: Path, exts: frozenset[str],
                            wants_dir: bool) -> None:
    """Raises InputError, before any model is loaded, when ``-o`` must be a directory (several inputs, a
    directory or a glob) but names an existing file, or a new name with this domain's file extension:
    ``denoise image a.png b.png -o clean.png`` is far more likely a slip than a wish for a directory
    called clean.png. One missing input is left to the per-input "no such file" error."""
    first = Path(inputs[0])
    if len(inputs) > 1:
        what = f"{len(inputs)} inputs need"
    elif first.is_dir():
        what = "a directory input needs"
    elif glob.has_magic(inputs[0]) and not first.exists():
        what = "a glob needs"
    else:
        return
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {output}: is a file, but {what} a directory")
    if not out.exists() and not wants_dir and out.suffix.lower() in exts:
        raise InputError(f"-o {output}: looks like a file name, but {what} a directory "
                         f"(end it with / for a directory of that name)")


@dataclass(frozen=True)
class _Target:
    """Where a run's outputs go: ``out`` (None: beside each input), whether it is a single file, the folder
    whose files are never inputs, and whether directory inputs keep their own name under ``out``."""

    out: Optional[Path]
    single_file: bool
    exclude: Optional[Path]
    own_folder: bool


def _target(inputs: Sequence[str], output: Optional[str], exts: frozenset[str]) -> _Target:
    if output == "-":
        raise InputError("-o -: a plan of files cannot write to standard output (denoise.runner.pipes does, for one "
                         "input); name an output file or directory")
    if output is None:
        return _Target(None, False, None, False)
    out = Path(output)
    wants_dir = output.endswith(("/", os.sep))  # "-o x.png/": a directory by that name
    single = (len(inputs) == 1 and Path(inputs[0]).is_file() and not out.is_dir() and out.suffix != ""
              and not wants_dir)
    if single:
        return _Target(out, True, None, False)
    _check_output_directory(inputs, output, out, exts, wants_dir)
    return _Target(out, False, out.resolve(), sum(Path(i).is_dir() for i in inputs) > 1)


def _expand(item: str, target: _Target, exts: frozenset[str], skipped: list[tuple[str, str]]
            ) -> list[tuple[Path, Optional[Path]]] | str:
    """The files one input names, each with the root its tree is mirrored from (None: none), or the
    reason it names none. What a directory scan leaves out is added to ``skipped`` with its reason."""
    p = Path(item)
    if p.is_dir():
        scan = _walk(p, exts, target.exclude, skip_tagged=target.out is None)
        skipped += scan.skipped
        if not scan.found:
            kinds = "/".join(sorted(e[1:] for e in exts))
            return _none_found(f"no {kinds} files found in directory", scan.tagged)
        root = Path(os.path.abspath(p)).parent if target.own_folder else p
        return [(f, root) for f in scan.found]
    why = not_regular(p)
    if why is None:
        return [(p, None)]
    if why != "no such file or directory" or not glob.has_magic(item):
        return why
    matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
    files = [m for m in matches if m.is_file() and m.suffix.lower() in exts
             and not (target.exclude is not None and target.exclude in m.resolve().parents)]
    kept = [m for m in files if not (target.out is None and m.stem.endswith(DENOISED_TAG))]
    return [(f, None) for f in kept] if kept else _none_found("no files match this pattern", len(files))


def _destination(src: Path, root: Optional[Path], target: _Target) -> Path:
    if target.out is None:
        return src.with_name(src.stem + DENOISED_TAG + src.suffix)
    if target.single_file:
        return target.out
    if root is None:
        return target.out / src.name
    return target.out / (Path(os.path.abspath(src)).relative_to(root) if target.own_folder else src.relative_to(root))


def plan_jobs(inputs: Sequence[str], output: Optional[str], exts: frozenset[str]) -> Plan:
    """Expands files, directories (recursive) and globs into (source, destination) pairs.

    - no ``output``: ``NAME.denoised.EXT`` beside each input;
    - one input that is a file and ``output`` with a suffix that is not a directory: that file;
    - otherwise ``output`` is a directory: a directory input's tree is mirrored below it, a file or glob
      match lands directly in it. An existing file, or a new name ending in one of ``exts`` (unless it
      ends with a slash), raises InputError instead: such an ``output`` was meant as a file.
    Several directory inputs are each mirrored under a folder of their own name, as ``cp -r`` does
    (``a/x.png`` and ``b/x.png`` land at ``output/a/x.png`` and ``output/b/x.png``); a single one is
    mirrored directly in ``output``. Files inside ``output`` are never inputs (an earlier run's outputs
    under a recursive glob). Destinations are always below ``output`` when it is given, never equal to
    a source, and unique; clashes are reported as errors for the later input.
    """
    target = _target(inputs, output, exts)
    plan = Plan()
    seen: set[Path] = set()
    owners: dict[Path, Path] = {}
    for item in inputs:
        found = _expand(item, target, exts, plan.skipped)
        if isinstance(found, str):
            plan.errors.append((item, found))
            continue
        for src, root in found:
            key = src.resolve()
            if key in seen:
                continue
            seen.add(key)
            dst = _destination(src, root, target)
            clash = ("output would overwrite the input" if dst.resolve() == key else
                     f"output {dst} is already the output of {owners[dst.resolve()]}" if dst.resolve() in owners
                     else None)
            if clash:
                plan.errors.append((str(src), clash))
                continue
            owners[dst.resolve()] = src
            plan.jobs.append(Job(src, dst))
    return plan


def plan(inputs: Sequence[str], output: Optional[str], domain: str, overwrite: bool = False,
         skip_existing: bool = False) -> Plan:
    """Everything that can be decided before a model loads, in one call: the jobs of :func:`plan_jobs`,
    less those that cannot be written or decoded (:func:`refuse_unwritable`), that are this run's own
    outputs (:func:`skip_own_outputs`) or whose output exists (:func:`settle_existing`). Raises
    InputError for an ``output`` that cannot be what the inputs need, or contradicting flags."""
    if overwrite and skip_existing:
        raise InputError("overwrite=True and skip_existing=True contradict each other")
    result = plan_jobs(inputs, output, IMAGE_EXTS if domain == "image" else AUDIO_EXTS)
    refuse_unwritable(result, domain)
    skip_own_outputs(result)
    settle_existing(result, overwrite, skip_existing)
    return result


Verdict = Optional[tuple[str, str]]  # None: keep the job; else ("failed" or "skipped", reason)


def _sift(plan: Plan, verdict: Callable[[Job], Verdict]) -> None:
    """Moves every job that ``verdict`` does not keep to ``plan.errors`` or ``plan.skipped``, in order."""
    kept: list[Job] = []
    for job in plan.jobs:
        found = verdict(job)
        if found is None:
            kept.append(job)
        else:
            status, reason = found
            (plan.skipped if status == "skipped" else plan.errors).append((str(job.src), reason))
    plan.jobs = kept


def skip_own_outputs(plan: Plan) -> None:
    """Moves the jobs whose source is another job's destination to ``plan.skipped``. A shell glob run twice,
    ``denoise image *.png``, names the first run's ``x.denoised.png`` beside ``x.png``; denoising it again
    would write ``x.denoised.denoised.png`` (or read a file this run is replacing), which nobody wants.
    Directories and quoted globs already leave tagged names out (:func:`plan_jobs`); this catches files
    named one by one. A lone ``x.denoised.png`` is still denoised: its output is not planned here."""
    outputs = {job.dst.resolve(): job.src for job in plan.jobs}

    def verdict(job: Job) -> Verdict:
        owner = outputs.get(job.src.resolve())
        return None if owner is None else ("skipped", f"the output of {owner} (also an input)")

    _sift(plan, verdict)


def existing_output(job: Job, overwrite: bool, skip_existing: bool) -> Verdict:
    """("skipped" or "failed", reason) when ``job``'s destination exists and may not be replaced, else None."""
    if overwrite or not job.dst.exists():
        return None
    if skip_existing:
        return "skipped", "output exists"
    return "failed", f"output exists: {job.dst} (overwrite=True replaces it, skip_existing=True skips it)"


def settle_existing(plan: Plan, overwrite: bool, skip_existing: bool) -> None:
    """Moves the jobs whose destination already exists out of ``plan.jobs``, unless ``overwrite``: to
    ``plan.skipped`` with ``skip_existing``, else to ``plan.errors``. Done before any model is loaded, so
    that a batch that is already finished returns at once. The inference loop checks again as each file
    comes up: another process may write one meanwhile."""
    _sift(plan, lambda job: existing_output(job, overwrite, skip_existing))


def refuse_unwritable(plan: Plan, domain: str) -> None:
    """Moves the jobs whose destination extension has no writer (``-o clean.xyz``, ``-o out.psd``), whose
    destination folder cannot be written (read-only, full), or whose source is a file of the other domain
    (``denoise audio photo.png``), from ``plan.jobs`` to ``plan.errors``, so that they fail before a model
    is loaded, not after each file has been denoised.
    So do sources in a format that cannot be decoded at all (``memo.m4a``, ``IMG_1.HEIC``): the error says
    to convert them, not that their extension cannot be written. The checks are table lookups, cheap enough
    to repeat for every job."""
    check = image_format_for if domain == "image" else audio_format_for
    folder_problem = functools.lru_cache(maxsize=None)(_folder_problem)
    reader, convert = ("Pillow", "to PNG or TIFF") if domain == "image" else ("libsndfile", "to WAV or FLAC")

    def verdict(job: Job) -> Verdict:
        ext = job.src.suffix.lower()
        other = other_domain(job.src, domain)
        if other:  # `denoise audio photo.png`: name the mix-up, not the writer
            return "failed", f"an {other} file: use `denoise {other}`"
        if ext in UNREADABLE_EXTS[domain]:
            how = f" (e.g. ffmpeg -i {job.src.name} {job.src.stem}.wav)" if domain == "audio" else ""
            return "failed", f"{reader} cannot decode {ext} files: convert it {convert} first{how}"
        try:
            check(job.dst)
        except InputError as exc:
            return "failed", str(exc)
        problem = folder_problem(job.dst.parent)
        if problem is None:
            problem = _space_problem(job)
        return None if problem is None else ("failed", problem)

    _sift(plan, verdict)


def _existing_ancestor(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _folder_problem(folder: Path) -> Optional[str]:
    """Why no output can be written in ``folder`` (or, where it does not exist yet, in the folder it will
    be made in), found by creating and removing a temporary file there; None when it can."""
    where = _existing_ancestor(folder)
    try:
        create_temp(where, "write-test", "").unlink()
    except OSError as exc:
        return f"cannot write in {where}: {exc.strerror or exc}"
    return None


def _space_problem(job: Job) -> Optional[str]:
    """"No space left" when the output's file system has less room than the input file takes: caught
    before the file is computed (a 12-megapixel photo takes minutes on a CPU), not after."""
    import shutil

    try:
        free = shutil.disk_usage(_existing_ancestor(job.dst.parent)).free
        need = job.src.stat().st_size
    except OSError:
        return None
    if free < need:
        return f"No space left on device: {free} bytes free for {job.dst}, the input alone is {need}"
    return None
