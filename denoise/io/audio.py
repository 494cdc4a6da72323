"""Audio: headers, whole-file reads (training, evaluation), block reads and writes for streaming, and
the output container and sample format."""

from __future__ import annotations

import contextlib
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from denoise.io.base import InputError

log = logging.getLogger("denoise.io")


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str


def audio_seconds(path: Path) -> float:
    """Duration from the header alone, for sizing a progress bar: 0.0 when it cannot be read (the file
    then fails later with the real reason)."""
    import soundfile as sf

    try:
        i = sf.info(str(path))
        return max(0.0, i.frames / i.samplerate)
    except Exception:  # noqa: BLE001 -- any unreadable file simply counts as zero seconds here
        return 0.0


def audio_info(path: Path) -> AudioInfo:
    import soundfile as sf

    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(f"cannot read audio: {exc}") from None
    if i.frames <= 0:
        raise InputError("audio file has no samples")
    if i.format == "WAV":
        declared = _wav_declared_bytes(path)
        block = i.channels * {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
                              "DOUBLE": 8}.get(i.subtype, 0)
        if declared and block and declared // block > i.frames:
            log.warning("%s is truncated: its header declares %d frames, the file holds %d; those are used",
                        path, declared // block, i.frames)
    return AudioInfo(int(i.samplerate), int(i.channels), int(i.frames), i.format, i.subtype)


def _wav_declared_bytes(path: Path) -> int:
    """Size of the 'data' chunk as the RIFF header declares it (0 if not found in the first 64 KiB)."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return 0
    pos = 12
    while head[:4] == b"RIFF" and pos + 8 <= len(head):
        tag, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if tag == b"data":
            return size
        pos += 8 + size + (size & 1)
    return 0


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Whole file as float32 (channels, samples) and its sample rate (for training and evaluation)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InputError(f"cannot read audio: {exc}") from None
    if data.shape[0] == 0:
        raise InputError("audio file has no samples")
    return np.ascontiguousarray(data.T), int(sr)


def output_audio_format(dst: Path, info: AudioInfo) -> tuple[str, str]:
    """(format, subtype) for writing ``dst``: the container its extension names, and the input's subtype
    when that container can hold it (PCM_16 stays PCM_16, FLOAT stays FLOAT), else the container's
    default."""
    import soundfile as sf

    fmt = audio_format_for(dst)
    if dst.suffix.lower() == ".opus":
        return fmt, "OPUS"
    if sf.check_format(fmt, info.subtype):
        return fmt, info.subtype
    return fmt, sf.default_subtype(fmt)


def audio_format_for(dst: Path) -> str:
    """The libsndfile container that ``dst``'s extension names (WAV, FLAC, OGG, ...)."""
    import soundfile as sf

    ext = dst.suffix.lower().lstrip(".")
    fmt = {"opus": "OGG", "oga": "OGG", "aif": "AIFF", "aifc": "AIFF", "snd": "AU"}.get(ext, ext.upper())
    if fmt not in sf.available_formats():
        raise InputError(f"cannot write audio with extension .{ext}")
    return fmt


Reader = Callable[[int, int], np.ndarray]  # read(start, stop) -> (channels, stop - start) float32


@contextlib.contextmanager
def open_reader(path: Path, frames: int) -> Iterator[Reader]:
    """``read(start, stop)`` over an audio file, for streaming: (channels, stop - start) float32; a file that
    ends before ``frames`` raises InputError instead of giving a short block."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as fin:

        def read(a: int, b: int) -> np.ndarray:
            fin.seek(a)
            block = fin.read(b - a, dtype="float32", always_2d=True).T
            if block.shape[1] != b - a:
                raise InputError(f"audio ended early: read {a + block.shape[1]} of {frames} frames")
            return np.ascontiguousarray(block)

        yield read


class Writer:
    """Writes (channels, n) float blocks to an open file in the output's container and sample format.
    Integer formats cannot hold samples over full scale: they are clipped and counted, for
    :meth:`report_clipping`."""

    def __init__(self, fout: "object", dst: Path, info: AudioInfo, subtype: str) -> None:
        self.fout, self.dst, self.info, self.subtype = fout, dst, info, subtype
        self.integer = subtype.startswith("PCM") or subtype in ("ULAW", "ALAW")
        self.clipped, self.peak = 0, 0.0

    def write(self, block: np.ndarray) -> None:
        import soundfile as sf

        if self.integer:
            over = np.abs(block) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                self.peak = max(self.peak, float(np.abs(block).max()))
            block = np.clip(block, -1.0, 1.0)
        try:
            self.fout.write(block.T)  # type: ignore[attr-defined]
        except sf.LibsndfileError as exc:
            raise _system_error(exc, self.dst) from None

    def report_clipping(self) -> None:
        if not self.clipped:
            return
        hint = ("a .wav output keeps the input's floats" if self.info.subtype in ("FLOAT", "DOUBLE")
                else "lower the input's level to avoid it")
        share = 100 * self.clipped / max(1, self.info.frames * self.info.channels)
        log.warning("%s: %d samples (%.2g %%) were over full scale (peak %+.1f dBFS) and were clipped, since %s "
                    "holds integers; %s", self.dst, self.clipped, share, 20 * np.log10(self.peak), self.subtype, hint)


@contextlib.contextmanager
def open_writer(path: Path, dst: Path, info: AudioInfo) -> Iterator[Writer]:
    """A :class:`Writer` on ``path`` (the temporary file of ``dst``, whose extension names the container)
    with ``info``'s rate and channels, in the input's sample format where the container allows it."""
    import soundfile as sf

    fmt, subtype = output_audio_format(dst, info)
    with sf.SoundFile(str(path), "w", samplerate=info.sample_rate, channels=info.channels, format=fmt,
                      subtype=subtype) as fout:
        yield Writer(fout, dst, info, subtype)


def _system_error(exc: Exception, dst: Path) -> Exception:
    """libsndfile reports a failed write (a full disk, a file-size limit) as "System error." alone: the OS
    reason is in the C library's errno, which cffi keeps; it becomes an OSError naming the output."""
    import errno as errnos
    import os

    import soundfile as sf

    code = sf._ffi.errno  # noqa: SLF001 -- the errno of the failed C call, the only place the reason is kept
    if getattr(exc, "code", None) == 2 and code not in (0, errnos.EINTR):  # SFE_SYSTEM
        return OSError(code, os.strerror(code), str(dst))
    return exc
