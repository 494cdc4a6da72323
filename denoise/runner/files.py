"""Many files in one run: the jobs in order, decoding and writing in background threads, the tiles or
chunks of several files sharing forward passes, one :class:`~denoise.runner.results.FileResult` per file,
and a failing file never stopping the others."""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
from torch import nn

from denoise import io
from denoise.audio.chunks import denoise_audio_file
from denoise.image.arrays import ModelChoice, choose_model
from denoise.inference import default_batch_size
from denoise.runner.results import FileResult, failure, settled


def denoise_paths(
    model: ModelChoice,
    jobs: Iterable[io.Job],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    strength: float = 1.0,
    batch_size: Optional[int] = None,
    workers: int = 2,
    audio_progress: Optional[Callable[[float], None]] = None,
    ensemble: bool = False,
    image_progress: Optional[Callable[[float], None]] = None,
) -> Iterator[FileResult]:
    """Denoises every job and yields one :class:`FileResult` per file as it finishes; a failing file never
    stops the others. An output that exists is checked for just before each file is computed and again at
    the final rename, so runs sharing a folder never replace each other's files (and, with
    ``skip_existing``, count them as skipped; each file is then also claimed before it is computed, so that
    such runs split the work, see ``results.settled``). Images: see :func:`_image_paths` (``model`` may be a
    :data:`ModelChoice`); audio: :func:`_audio_paths`. ``audio_progress`` gets seconds of audio and
    ``image_progress`` megapixels as they are finished."""
    jobs = list(jobs)
    domain = model.domain if isinstance(model, nn.Module) else "image"
    if ensemble and domain != "image":
        raise ValueError("the x8 self-ensemble is for image models only")
    for directory in sorted({job.dst.parent for job in jobs}):
        io.remove_stale_temps(directory)  # left by an earlier run that was killed
    settle = dict(overwrite=overwrite, skip_existing=skip_existing)
    if domain == "audio":
        results = _audio_paths(model, jobs, settle, strength, batch_size, audio_progress)  # type: ignore[arg-type]
    else:
        results = _image_paths(model, jobs, settle, workers, image_progress, strength=strength,
                               batch_size=batch_size, ensemble=ensemble)
    try:
        for r in results:
            if skip_existing and r.dst is not None:
                io.release_claim(r.dst)  # settled(claim=True) took it; this file is over
            yield r
    finally:
        results.close()
        for job in jobs if skip_existing else ():
            io.release_claim(job.dst)  # an interrupted run leaves no claim of its own behind


def _audio_paths(model: nn.Module, jobs: list[io.Job], settle: dict[str, bool], strength: float,
                 batch_size: Optional[int], progress: Optional[Callable[[float], None]]) -> Iterator[FileResult]:
    """Audio files one after another, each streamed chunk by chunk; with batches of more than one chunk
    (a GPU's default), several files at once, their chunks sharing passes (:mod:`denoise.runner.audio_batching`)."""
    batch = batch_size or default_batch_size(model)
    if len(jobs) > 1 and batch > 1:
        from denoise.runner.audio_batching import audio_paths_batched

        yield from audio_paths_batched(model, jobs, settle, strength, batch, progress)
        return
    for job in jobs:
        t0 = time.perf_counter()
        early = settled(job, settle, claim=True)
        if early is not None:
            yield early
            continue
        try:
            denoise_audio_file(model, job.src, job.dst, overwrite=settle["overwrite"], strength=strength,
                               batch_size=batch_size, progress=progress)
            yield FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - t0)
        except Exception as exc:
            yield failure(job, exc, t0, settle["skip_existing"])


def _image_paths(model: ModelChoice, jobs: list[io.Job], settle: dict[str, bool], workers: int,
                 progress: Optional[Callable[[float], None]], strength: float = 1.0,
                 batch_size: Optional[int] = None, ensemble: bool = False) -> Iterator[FileResult]:
    """Images: decoded ``workers`` files ahead in background threads, their tiles batched across files
    (:mod:`denoise.image.batching`), encoded and written by ``workers`` background threads. Files whose output
    exists come first (nothing to compute)."""
    from denoise.image.batching import ImageBatcher

    todo = []
    for job in jobs:
        early = settled(job, settle)
        if early is None:
            todo.append(job)
        else:
            yield early
    workers = max(1, workers)
    batcher = ImageBatcher(batch_size, strength, ensemble, progress=progress)
    readers = ThreadPoolExecutor(workers, thread_name_prefix="decode")
    writers = ThreadPoolExecutor(workers, thread_name_prefix="write")
    interrupted = False
    try:
        out = _Writes(writers, settle)
        ahead = max(2 * workers, batch_size or 1)
        for job, fut in _prefetch(todo, lambda job: readers.submit(io.read_image, job.src), ahead):
            t0 = time.perf_counter()
            early = settled(job, settle, claim=True)  # another run may have written it (or be writing it)
            if early is not None:
                yield early
                continue
            try:
                data = fut.result()
                batcher.add((job, data, t0), *choose_model(model, data, str(job.src)))
            except Exception as exc:
                yield failure(job, exc, t0, settle["skip_existing"])
                continue
            yield from out.take(batcher.ready())
        yield from out.take(batcher.flush())
        yield from out.drain()
    except (KeyboardInterrupt, GeneratorExit):
        interrupted = True  # a blocked reader must not hold up the stop (signals.exit_interrupted)
        raise
    finally:
        for pool in (readers, writers):
            pool.shutdown(wait=not interrupted, cancel_futures=interrupted)


class _Writes:
    """Finished pictures handed to the writer threads; results come back in the order they were handed."""

    def __init__(self, writers: ThreadPoolExecutor, settle: dict[str, bool]) -> None:
        self.writers, self.settle = writers, settle
        self.queue: deque[tuple[io.Job, float, Future]] = deque()

    def _write(self, job: io.Job, data: io.ImageData, pixels: np.ndarray, t0: float) -> FileResult:
        io.save_image(job.dst, data, pixels, self.settle["overwrite"])
        return FileResult(job.src, job.dst, "done", seconds=time.perf_counter() - t0)

    def take(self, finished: Iterable[tuple[Any, Any]]) -> Iterator[FileResult]:
        """Hands each (key, picture or exception) on; yields the results of writes already done."""
        for (job, data, t0), result in finished:
            if isinstance(result, BaseException):
                yield failure(job, result, t0, self.settle["skip_existing"])
            else:
                self.queue.append((job, t0, self.writers.submit(self._write, job, data, result, t0)))
        while self.queue and self.queue[0][2].done():
            yield _written(self.queue.popleft(), self.settle["skip_existing"])

    def drain(self) -> Iterator[FileResult]:
        while self.queue:
            yield _written(self.queue.popleft(), self.settle["skip_existing"])


def _prefetch(jobs: list[io.Job], submit: Callable[[io.Job], Future], ahead: int
              ) -> Iterator[tuple[io.Job, Future]]:
    """Yields (job, future) in order, keeping up to ``ahead`` submitted beyond the one yielded."""
    queue: deque[tuple[io.Job, Future]] = deque()
    it = iter(jobs)
    while True:
        while len(queue) < ahead:
            job = next(it, None)
            if job is None:
                break
            queue.append((job, submit(job)))
        if not queue:
            return
        yield queue.popleft()


def _written(entry: tuple[io.Job, float, Future], skip_existing: bool) -> FileResult:
    job, t0, fut = entry
    try:
        return fut.result()
    except Exception as exc:
        return failure(job, exc, t0, skip_existing)
