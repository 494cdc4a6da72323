"""The result of one file in a run of many, and the two ways a file is settled without computing it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from denoise import io

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    src: Path
    dst: Optional[Path]
    status: str  # "done" | "failed" | "skipped"
    reason: str = ""
    seconds: float = 0.0


def failure(job: io.Job, exc: BaseException, t0: float, skip_existing: bool) -> FileResult:
    """The result of a file that raised ``exc``: an output that another run wrote meanwhile is a skip
    under ``skip_existing`` (two runs sharing a folder), anything else a failure."""
    if skip_existing and isinstance(exc, io.OutputExists):
        return FileResult(job.src, job.dst, "skipped", "output exists (written meanwhile)", time.perf_counter() - t0)
    log.debug("failed on %s", job.src, exc_info=True)
    return FileResult(job.src, job.dst, "failed", io.reason(exc), time.perf_counter() - t0)


def settled(job: io.Job, settle: dict[str, bool], claim: bool = False) -> Optional[FileResult]:
    """A result for ``job`` when its output exists and may not be replaced (see io.existing_output). With
    ``claim``, just before the file is computed: under ``skip_existing`` the output is claimed
    (io.try_claim), and a file that another live run is computing is a skip, so that runs sharing a
    folder split the work. The claim is released when the file's result is given out."""
    found = io.existing_output(job, settle["overwrite"], settle["skip_existing"])
    if found is not None:
        return FileResult(job.src, job.dst, *found)
    if claim and settle["skip_existing"] and not io.try_claim(job.dst):
        return FileResult(job.src, job.dst, "skipped", "being written by another run")
    return None
