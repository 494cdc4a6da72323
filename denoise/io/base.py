"""What every part of ``denoise.io`` shares: the error type and the file kinds."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
AUDIO_EXTS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64",
     ".mp3"}
)
DENOISED_TAG = ".denoised"
# NAME.compare.png / NAME.spectrogram.png: pictures a run writes beside its outputs (NAME.EXT), never inputs
# of a later one found in a directory; nor is a report's media folder, which holds REPORT_MARK
PICTURE_TAGS = (".compare", ".spectrogram")
REPORT_MARK = "denoise-report.txt"  # in every report media folder denoise writes, and only there


def is_report_media(folder: Path) -> bool:
    """Whether ``folder`` is the media folder of a report that denoise wrote (it holds REPORT_MARK): a
    browser's "save page" folder (``Holiday_files/`` beside ``Holiday.html``) is the user's, and scanned."""
    return (Path(folder) / REPORT_MARK).is_file()


def is_own_picture(path: Path, siblings: frozenset[str]) -> bool:
    """Whether ``path`` is a picture that a run wrote beside an output: ``NAME.compare.png`` or
    ``NAME.spectrogram.png`` with the output (stem ``NAME``) or, for an output ``X.denoised.EXT`` written
    beside its input, the input (stem ``X``) beside it (``siblings``: the stems in its folder). A user's
    ``before.compare.png`` with no ``before.*`` beside it is a picture like any other."""
    stem = Path(path).stem
    for tag in PICTURE_TAGS:
        if not stem.endswith(tag):
            continue
        owner = stem[: -len(tag)]
        if owner in siblings or (owner.endswith(DENOISED_TAG) and owner[: -len(DENOISED_TAG)] in siblings):
            return True
    return False
# Common formats that Pillow / libsndfile cannot decode at all (not by extension, nor by content): named in
# a "convert it first" error before the model loads, rather than failing on the output's extension
UNREADABLE_EXTS = {
    "image": frozenset({".heic", ".heif", ".jxl", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"}),
    "audio": frozenset({".m4a", ".m4b", ".mp4", ".aac", ".wma", ".mov", ".mkv", ".mka", ".webm", ".amr",
                        ".3gp", ".ac3", ".ape", ".wv"}),
}


def other_domain(path: Path, domain: str) -> str | None:
    """"image" or "audio" when ``path``'s extension is the other domain's than ``domain``, else None: the
    one rule behind "an image file: use ..." messages."""
    ext = Path(path).suffix.lower()
    if domain == "audio" and ext in IMAGE_EXTS:
        return "image"
    if domain == "image" and ext in AUDIO_EXTS:
        return "audio"
    return None


def domain_of(path: Path) -> str:
    """"audio" for an audio extension, else "image": the kind of a file named on its own."""
    return "audio" if Path(path).suffix.lower() in AUDIO_EXTS else "image"


class InputError(ValueError):
    """A problem with one input or output file, or input array, reported to the user as one line. A
    ValueError, so that API callers catch bad input the usual way."""


class OutputExists(InputError):
    """The output file exists (perhaps written meanwhile by another run) and may not be replaced."""

    def __init__(self, dst: Path) -> None:
        super().__init__(f"output exists: {dst} (overwrite=True replaces it)")
        self.dst = dst


def reason(exc: BaseException) -> str:
    """The one line that tells a user why a file failed: our own messages as they are, the OS's reason with
    the file name, else the exception's type and first line."""
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
