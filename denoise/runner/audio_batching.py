"""Many audio files in shared forward passes: the chunks of different files fill one batch.

A folder of short voice notes would otherwise run one file, often one chunk, per pass, which leaves a GPU
mostly idle. Up to ``batch_size`` files are open at once; their next chunks (the same 10 s chunks with
0.5 s of context as ``stream_audio``'s) are gathered into one batch, chunks of equal length and rate
sharing a forward pass (``_run_windows``: no padding, so a chunk's computation is what it is alone), and
each result goes back to its file's cross-fader and writer in order. A file's output therefore does not
depend on its neighbours, up to the CPU kernels' batch-size-dependent rounding; with the CPU default of
one chunk a pass this path is not taken at all.

A batch that fails is run again chunk by chunk, so only the file at fault fails; its partial output is
removed (the writer is atomic) and the others go on.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator, Optional, Union

import numpy as np
from torch import nn

from denoise import io
from denoise.audio.chunks import (MIN_AUDIO_SECONDS, Chunking, CrossFade, boundaries, denoise_audio_file,
                                  read_window, run_windows, silence_nonfinite, warn_nonfinite)
from denoise.runner.results import FileResult, failure, settled


class _OpenFile:
    """One file in flight: its reader, its atomic writer, its chunk plan and cross-fader."""

    def __init__(self, job: io.Job, info: io.AudioInfo, overwrite: bool) -> None:
        self.job, self.info, self.t0 = job, info, time.perf_counter()
        self.stack = contextlib.ExitStack()
        with contextlib.ExitStack() as opening:  # closed (tmp removed) only if opening fails
            opening.enter_context(self.stack)
            tmp = self.stack.enter_context(io.atomic_output(job.dst, overwrite))
            self.read = self.stack.enter_context(io.open_reader(job.src, info.frames))
            self.writer = self.stack.enter_context(io.open_writer(tmp, job.dst, info))
            opening.pop_all()
        hop, self.ctx, fade = Chunking().samples(info.sample_rate)
        self.bounds = boundaries(info.frames, hop)
        self.joiner = CrossFade(self.bounds, fade, self.writer.write)
        self.taken = self.added = 0
        self.nonfinite = False

    @property
    def chunks(self) -> int:
        return len(self.bounds) - 1

    def take(self) -> tuple[int, int, np.ndarray]:
        """The next chunk: (index, first sample of its window, (channels, L) window)."""
        k, self.taken = self.taken, self.taken + 1
        a, window = read_window(self.read, self.bounds, k, self.ctx, self.info.frames)
        self.nonfinite |= silence_nonfinite(window)
        return k, a, window

    def add(self, k: int, start: int, y: np.ndarray) -> float:
        """Chunk ``k``'s output; returns the seconds of audio it finished."""
        self.joiner.add(k, start, y)
        self.added += 1
        return (self.bounds[k + 1] - self.bounds[k]) / self.info.sample_rate

    def finish(self) -> FileResult:
        self.stack.close()  # the atomic rename
        self.writer.report_clipping()
        if self.nonfinite:
            warn_nonfinite(self.job.src)
        return FileResult(self.job.src, self.job.dst, "done", seconds=time.perf_counter() - self.t0)

    def abort(self, exc: BaseException, skip_existing: bool) -> FileResult:
        self.stack.__exit__(type(exc), exc, exc.__traceback__)  # removes the temporary file
        return failure(self.job, exc, self.t0, skip_existing)


def audio_paths_batched(model: nn.Module, jobs: list[io.Job], settle: dict[str, bool], strength: float,
                        batch_size: int, progress: Optional[Callable[[float], None]] = None
                        ) -> Iterator[FileResult]:
    """Denoises ``jobs`` with chunks of up to ``batch_size`` files sharing forward passes; yields one
    FileResult per file as it finishes (see the module docstring). ``settle``: overwrite and
    skip_existing, as ``denoise.runner.files.denoise_paths`` takes them."""
    queue = list(jobs)[::-1]
    open_files: list[_OpenFile] = []
    while queue or open_files:
        while queue and len(open_files) < batch_size:
            opened = _open(queue.pop(), model, settle, strength, progress)
            if isinstance(opened, _OpenFile):
                open_files.append(opened)
            else:
                yield opened
        items: list[tuple[_OpenFile, int, int, np.ndarray]] = []
        failed: dict[_OpenFile, BaseException] = {}
        for f in open_files:
            while f.taken < f.chunks and len(items) < batch_size:
                try:
                    items.append((f, *f.take()))
                except Exception as exc:  # noqa: BLE001 -- this file's failure, reported below
                    failed[f] = exc
                    break
        for f, k, start, y in _run(model, [i for i in items if i[0] not in failed], strength, failed):
            seconds = f.add(k, start, y)
            if progress is not None:
                progress(seconds)
        for f in list(open_files):
            if f in failed:
                open_files.remove(f)
                yield f.abort(failed[f], settle["skip_existing"])
            elif f.added == f.chunks:
                open_files.remove(f)
                yield f.finish()


def _open(job: io.Job, model: nn.Module, settle: dict[str, bool], strength: float,
          progress: Optional[Callable[[float], None]]) -> Union[_OpenFile, FileResult]:
    """An _OpenFile for ``job``, or the FileResult that settles it at once: an output that may not be
    replaced, a file that cannot be opened, or one too short to cut into chunks, which goes through
    ``denoise_audio_file`` (it passes such a file through with a warning)."""
    t0 = time.perf_counter()
    early = settled(job, settle, claim=True)
    if early is not None:
        return early
    try:
        info = io.audio_info(job.src)
        if info.frames < MIN_AUDIO_SECONDS * info.sample_rate:
            denoise_audio_file(model, job.src, job.dst, overwrite=settle["overwrite"], strength=strength,
                               progress=progress)
            return FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - t0)
        return _OpenFile(job, info, settle["overwrite"])
    except Exception as exc:  # noqa: BLE001 -- this file's failure
        return failure(job, exc, t0, settle["skip_existing"])


def _run(model: nn.Module, items: list[tuple[_OpenFile, int, int, np.ndarray]], strength: float,
         failed: dict[_OpenFile, BaseException]) -> Iterator[tuple[_OpenFile, int, int, np.ndarray]]:
    """The outputs of ``items`` (file, chunk, window start, window), windows of one rate per pass; a pass
    that fails is run again chunk by chunk, and a chunk that fails alone fails its file (in ``failed``)."""
    by_rate: dict[int, list[tuple[_OpenFile, int, int, np.ndarray]]] = {}
    for item in items:
        by_rate.setdefault(item[0].info.sample_rate, []).append(item)
    for rate, group in by_rate.items():
        try:
            outs = run_windows(model, [w for *_, w in group], rate, strength, heads=[k == 0 for _, k, _, _ in group])
        except Exception:  # noqa: BLE001 -- tried again chunk by chunk, to blame the right file
            outs = []
            for f, k, _, w in group:
                try:
                    outs.append(None if f in failed else run_windows(model, [w], rate, strength, heads=[k == 0])[0])
                except Exception as exc:  # noqa: BLE001 -- this file's failure
                    failed[f] = exc
                    outs.append(None)
        for (f, k, start, _), y in zip(group, outs):
            if y is not None and f not in failed:
                yield f, k, start, y
