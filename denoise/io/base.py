"""What every part of ``denoise.io`` shares: the error type and the file kinds."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
AUDIO_EXTS = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64",
     ".mp3"}
)
DENOISED_TAG = ".denoised"
# Common formats that Pillow / libsndfile cannot decode at all (not by extension, nor by content): named in
# a "convert it first" error before the model loads, rather than failing on the output's extension
UNREADABLE_EXTS = {
    "image": frozenset({".heic", ".heif", ".jxl", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"}),
    "audio": frozenset({".m4a", ".m4b", ".mp4", ".aac", ".wma", ".mov", ".mkv", ".mka", ".webm", ".amr",
                        ".3gp", ".ac3", ".ape", ".wv"}),
}


class InputError(ValueError):
    """A problem with one input or output file, or input array, reported to the user as one line. A
    ValueError, so that API callers catch bad input the usual way."""


class OutputExists(InputError):
    """The output file exists (perhaps written meanwhile by another run) and may not be replaced."""

    def __init__(self, dst: Path) -> None:
        super().__init__(f"output exists: {dst} (overwrite=True replaces it)")
        self.dst = dst
