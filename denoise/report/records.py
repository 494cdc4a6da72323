"""What a run says about each file beyond writing it: a JSON-ready record (noise before and after), the
``--compare`` / ``--spectrogram`` pictures, and the HTML report.

:class:`Extras` turns one :class:`~denoise.inference.FileResult` into a record, re-reading the input and
the finished output (so it never slows or risks the denoising itself, and a failure here never touches
an output). :class:`Report` collects the records and writes one self-contained page, ``NAME.html``, with
its media in ``NAME_files/`` beside it: no external URL, so it opens offline and can be zipped and sent.
"""

from __future__ import annotations

import datetime
import logging
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import numpy as np

from denoise import io

log = logging.getLogger(__name__)


def report_media_folder(page: Path) -> Path:
    """``NAME_files/`` beside ``NAME.html``, as browsers save a page."""
    return page.with_name(page.stem + "_files")


_MEDIA_NAME = re.compile(r"^\d{5}-[\w-]+\.(jpg|png|mp3)$")  # what media_path names


@dataclass
class Report:
    """Records of a run, written as one HTML page by :meth:`write`. ``path`` must not exist unless
    ``overwrite``; media go to :func:`report_media_folder` as each file finishes.

    Everything that could stop the page being written is found here, before any work: a path that is a
    directory or cannot be written, a page or media that exist without ``overwrite``, a media folder that
    denoise did not write. The media folder is claimed for this run (``io.try_claim``), so that two runs
    given the same report refuse instead of mixing their media, and with ``overwrite`` the media of an
    earlier run are removed first: the folder only ever holds this page's media. :meth:`release` gives
    the claim back."""

    path: Path
    domain: str
    overwrite: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.path.suffix.lower() not in (".html", ".htm"):
            raise io.InputError(f"report must be an .html file, got {self.path}")
        io.check_output_file(self.path, self.overwrite)  # a directory, an existing page, a folder not writable
        self.media = report_media_folder(self.path)
        self._claim_media()

    def _claim_media(self) -> None:
        try:
            self.media.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise io.InputError(f"cannot write the report {self.path}: {io.reason(exc)}") from None
        if not io.try_claim(self.media):
            raise io.InputError(f"another run is writing the report {self.path} (its media folder "
                                f"{self.media.name} is claimed): give this run another report path")
        try:
            self._clear_media()
            (self.media / io.REPORT_MARK).write_text("The pictures and sounds of a report written by denoise.\n")
        except BaseException:
            self.release()
            raise

    def _clear_media(self) -> None:
        """The media folder emptied of an earlier run's media (with ``overwrite``), or refused."""
        found = [p for p in self.media.iterdir() if p.name != io.REPORT_MARK]
        if not found:
            return
        if not io.is_report_media(self.media) or not all(_MEDIA_NAME.match(p.name) for p in found):
            raise io.InputError(f"{self.media} holds files that denoise did not write: move them, or give "
                                "another report path")
        if not self.overwrite:
            raise io.OutputExists(self.media)
        for p in found:
            p.unlink()

    def release(self) -> None:
        """Gives back this run's claim on the media folder (the page and media stay)."""
        io.release_claim(self.media)

    def check_outputs(self, outputs: list[Path]) -> None:
        """Raises InputError if an output of the run would land in the media folder or on the page."""
        media = self.media.resolve()
        for dst in outputs:
            d = Path(dst).resolve()
            if d == self.path.resolve() or media == d or media in d.parents:
                raise io.InputError(f"output {dst} would be inside the report's media folder {self.media}: "
                                    "write the outputs elsewhere")

    def media_path(self, index: int, role: str, ext: str) -> Path:
        return self.media / f"{index:05d}-{role}{ext}"

    def relative(self, path: Path) -> str:
        return quote(Path(path).relative_to(self.path.parent).as_posix())

    def write(self, header: dict[str, Any]) -> None:
        """Writes the page atomically. ``header``: totals (done/failed/skipped/seconds), models (list of
        {name, sha256}), settings (label -> value)."""
        from denoise.report.html import render

        page = render(self.domain, header, self.records, versions())
        try:
            with io.atomic_output(self.path, self.overwrite) as tmp:
                tmp.write_text(page, encoding="utf-8")
        finally:
            self.release()


def versions() -> dict[str, str]:
    """What a checkpoint records (``checkpoint.software_versions``), plus what the page's reader may need."""
    import PIL
    import soundfile

    from denoise.checkpoint import software_versions

    return {**software_versions(), "python": platform.python_version(), "numpy": np.__version__,
            "Pillow": PIL.__version__, "soundfile": soundfile.__version__,
            "system": f"{platform.system()} {platform.machine()}",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


@dataclass
class Extras:
    """What to make for each finished file: ``estimates`` (noise before and after), the ``compare`` /
    ``spectrogram`` picture beside the output, entries in ``report``. ``overwrite`` applies to the pictures
    as to the outputs."""

    domain: str
    estimates: bool = False
    compare: bool = False
    spectrogram: bool = False
    overwrite: bool = False
    report: Optional[Report] = None

    def __post_init__(self) -> None:
        if self.spectrogram or (self.report is not None and self.domain == "audio"):
            from denoise.report.visuals import require_matplotlib

            require_matplotlib()

    @property
    def wants_estimates(self) -> bool:
        return self.estimates or self.report is not None

    @property
    def reads_files(self) -> bool:
        return self.wants_estimates or self.compare or self.spectrogram

    def record(self, result: Any) -> dict[str, Any]:
        """The JSON-ready record of one :class:`~denoise.inference.FileResult`; for a finished file with
        the extras asked for. A failure while making them leaves the output alone and is noted in the
        record as ``extras_error``."""
        rec: dict[str, Any] = {"input": str(result.src), "output": None if result.dst is None else str(result.dst),
                               "status": result.status, "reason": result.reason or None,
                               "seconds": round(result.seconds, 3)}
        if result.status == "done" and self.reads_files:
            make = _image_extras if self.domain == "image" else _audio_extras
            try:
                make(self, Path(result.src), Path(result.dst), rec)
            except Exception as exc:  # noqa: BLE001 -- the output is written; only the extras are lost
                log.debug("extras of %s", result.dst, exc_info=True)
                rec["extras_error"] = io.reason(exc)  # the caller says it (in its own words for options)
        if self.report is not None:
            self.report.records.append(rec)
        return rec

    def picture_path(self, dst: Path, kind: str) -> Path:
        """``NAME.compare.png`` / ``NAME.spectrogram.png`` beside the output ``NAME.EXT``."""
        return dst.with_name(f"{dst.stem}.{kind}.png")


def _image_extras(ex: Extras, src: Path, dst: Path, rec: dict[str, Any]) -> None:
    from denoise.report.estimate import image_data_noise
    from denoise.report.visuals import compare_picture, pick_crop, save_picture

    src_data, dst_data = io.read_image(src), io.read_image(dst)
    before, after = src_data.pixels, dst_data.pixels
    if ex.wants_estimates:
        rec["noise_before"], rec["noise_after"] = (image_data_noise(d).as_dict() for d in (src_data, dst_data))
    if not (ex.compare or ex.report is not None):
        return
    crop = pick_crop(after)
    if ex.compare:
        path = ex.picture_path(dst, "compare")
        save_picture(compare_picture(before, after, crop), path, ex.overwrite)
        rec["compare"] = str(path)
    if ex.report is not None:
        rec["media"] = _image_media(ex.report, len(ex.report.records), before, after, crop)


def _image_media(report: Report, index: int, before: np.ndarray, after: np.ndarray, crop: Any) -> dict[str, Any]:
    """Thumbnails (JPEG) and detail crops (PNG: lossless, so the noise shows as it is) in the media folder."""
    from denoise.report.visuals import THUMB_BYTES, crop_image, save_picture, thumbnail

    media: dict[str, Any] = {"width": int(before.shape[1]), "height": int(before.shape[0]),
                             "crop": [crop.left, crop.top, crop.side], "bytes": 0}
    for role, pixels in (("before", before), ("after", after)):
        thumb, detail = report.media_path(index, role, ".jpg"), report.media_path(index, role + "-detail", ".png")
        media["bytes"] += save_picture(thumbnail(pixels), thumb, True, THUMB_BYTES, quality=85)
        media["bytes"] += save_picture(crop_image(pixels, crop), detail, True, optimize=True)
        media[role], media[role + "_detail"] = report.relative(thumb), report.relative(detail)
    return media


def _audio_extras(ex: Extras, src: Path, dst: Path, rec: dict[str, Any]) -> None:
    from denoise.report.estimate import estimate_file
    from denoise.report.visuals import read_preview, save_figure, spectrogram_figure

    if ex.wants_estimates:
        try:
            rec["noise_before"], rec["noise_after"] = estimate_file(src, "audio"), estimate_file(dst, "audio")
        except io.InputError as exc:  # too short or silent to judge: the pictures are still made
            rec["noise_before"] = rec["noise_after"] = None
            rec["noise_unknown"] = str(exc)
    if not (ex.spectrogram or ex.report is not None):
        return
    (before, sr), (after, _) = read_preview(src), read_preview(dst)
    if ex.spectrogram:
        path = ex.picture_path(dst, "spectrogram")
        save_figure(spectrogram_figure(before, after, sr, src.name), path, ex.overwrite)
        rec["spectrogram"] = str(path)
    if ex.report is not None:
        rec["media"] = _audio_media(ex.report, len(ex.report.records), before, after, sr, src.name)


def _audio_media(report: Report, index: int, before: np.ndarray, after: np.ndarray, sr: int,
                 title: str) -> dict[str, Any]:
    """Player clips (MP3) and the spectrogram (PNG) of the first seconds, in the media folder."""
    from denoise.report.visuals import PREVIEW_SECONDS, save_figure, spectrogram_figure, write_preview

    media: dict[str, Any] = {"preview_seconds": min(PREVIEW_SECONDS, len(before) / sr), "bytes": 0}
    for role, mono in (("before", before), ("after", after)):
        clip = report.media_path(index, role, ".mp3")
        media["bytes"] += write_preview(mono, sr, clip, True)
        media[role] = report.relative(clip)
    spec = report.media_path(index, "spectrogram", ".jpg")
    media["bytes"] += save_figure(spectrogram_figure(before, after, sr, title), spec, True, dpi=96)
    media["spectrogram"] = report.relative(spec)
    return media
