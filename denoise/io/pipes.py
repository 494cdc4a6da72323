"""Standard input and output: WAV or raw PCM streams read and written as they flow, and whole images.

A WAV stream from ffmpeg (``ffmpeg -i in.mp4 -f wav -``) has no known length: its size fields are 0 or
0xFFFFFFFF, and the samples run until the end of the stream. :class:`PcmStream` reads such a stream (or raw
PCM described by a :class:`PcmFormat`) in blocks; :class:`PcmSink` writes the same kind of stream back,
WAV with the size fields at 0xFFFFFFFF as ffmpeg does, or raw.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Optional

import numpy as np

from denoise.io.base import InputError

RAW_FORMATS = ("u8", "s16le", "s24le", "s32le", "f32le", "f64le")
MAX_RATE = 1_536_000  # Hz: 8 times 192 kHz; a header asking for more is damaged or crafted
MAX_CHANNELS = 256
MAX_HEADER_CHUNK = 1 << 16  # bytes of a 'fmt ' chunk read at once; other chunks before the samples are skipped
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
_WAVE_FORMAT_PCM, _WAVE_FORMAT_FLOAT, _WAVE_FORMAT_EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class PcmFormat:
    """Interleaved PCM: ``sample`` one of RAW_FORMATS, ``rate`` in Hz, ``channels``."""

    sample: str
    rate: int
    channels: int

    def __post_init__(self) -> None:
        if self.sample not in RAW_FORMATS:
            raise InputError(f"raw_format must be one of {', '.join(RAW_FORMATS)}, got {self.sample!r}")
        if not (0 < self.rate <= MAX_RATE and 0 < self.channels <= MAX_CHANNELS):
            raise InputError(f"rate and channels must be in 1..{MAX_RATE} and 1..{MAX_CHANNELS}, got "
                             f"rate={self.rate}, channels={self.channels}")

    @property
    def width(self) -> int:
        return {"u8": 1, "s16le": 2, "s24le": 3, "s32le": 4, "f32le": 4, "f64le": 8}[self.sample]

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels

    def decode(self, data: bytes) -> np.ndarray:
        """Whole frames of bytes -> (channels, n) float32 in [-1, 1]."""
        if self.sample == "s24le":
            b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
            x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8) / 8388608.0
        elif self.sample == "u8":
            x = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
        else:
            dtype = {"s16le": "<i2", "s32le": "<i4", "f32le": "<f4", "f64le": "<f8"}[self.sample]
            x = np.frombuffer(data, dtype).astype(np.float64)
            x = x / {"s16le": 32768.0, "s32le": 2147483648.0}.get(self.sample, 1.0)
        return np.ascontiguousarray(np.asarray(x, np.float32).reshape(-1, self.channels).T)

    def encode(self, block: np.ndarray) -> bytes:
        """(channels, n) float -> interleaved bytes; integer formats are clipped to full scale."""
        x = np.asarray(block, np.float64).T.reshape(-1)
        if self.sample in ("f32le", "f64le"):
            return x.astype("<f4" if self.sample == "f32le" else "<f8").tobytes()
        x = np.clip(x, -1.0, 1.0)
        if self.sample == "u8":
            return np.clip(np.round(x * 128.0 + 128.0), 0, 255).astype(np.uint8).tobytes()
        full = {"s16le": 32767, "s24le": 8388607, "s32le": 2147483647}[self.sample]
        q = np.round(x * full).astype(np.int64)
        if self.sample == "s24le":
            q = q & 0xFFFFFF
            return np.stack([q & 0xFF, (q >> 8) & 0xFF, (q >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
        return q.astype("<i2" if self.sample == "s16le" else "<i4").tobytes()


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the stream (pipes return short reads)."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _wav_format(fmt: bytes) -> PcmFormat:
    if len(fmt) < 16:
        raise InputError(f"the WAV stream on standard input has a 'fmt ' chunk of {len(fmt)} bytes (at least 16)")
    tag, channels, rate = struct.unpack("<HHI", fmt[:8])
    bits = struct.unpack("<H", fmt[14:16])[0]
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    kinds = {(_WAVE_FORMAT_PCM, 8): "u8", (_WAVE_FORMAT_PCM, 16): "s16le", (_WAVE_FORMAT_PCM, 24): "s24le",
             (_WAVE_FORMAT_PCM, 32): "s32le", (_WAVE_FORMAT_FLOAT, 32): "f32le", (_WAVE_FORMAT_FLOAT, 64): "f64le"}
    if (tag, bits) not in kinds:
        raise InputError(f"unsupported WAV sample format on standard input (format tag {tag}, {bits} bits)")
    return PcmFormat(kinds[(tag, bits)], rate, channels)


# What other audio streams start with: named in the error, so that a FLAC or MP3 pipe is not a hex dump.
_MAGIC = ((b"fLaC", "FLAC"), (b"ID3", "MP3"), (b"\xff\xfb", "MP3"), (b"\xff\xf3", "MP3"), (b"\xff\xf2", "MP3"),
          (b"OggS", "Ogg"), (b"\x1aE\xdf\xa3", "Matroska/WebM"), (b"FORM", "AIFF"), (b"caff", "CAF"))


def _not_wav(head: bytes) -> str:
    """The one line for a stream that is not WAV: its format when it is a known one."""
    found = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if found is None and head[4:8] == b"ftyp":
        found = "MP4/M4A"
    if found:
        return (f"standard input is {found}, not WAV: decode it first (ffmpeg -i - -f wav -), or give the file "
                "by name")
    shown = head[:12].hex(" ") if head else "nothing"
    return (f"standard input is not a WAV stream (it starts with {shown}); for raw PCM, give raw_format=, rate= "
            "and channels=")


def _skip(stream: BinaryIO, n: int) -> None:
    """Reads past ``n`` bytes in blocks (a pipe cannot seek); raises InputError if the stream ends first."""
    while n > 0:
        part = stream.read(min(n, 1 << 16))
        if not part:
            raise InputError("the WAV stream on standard input ended inside its header")
        n -= len(part)


def read_wav_header(stream: BinaryIO) -> tuple[PcmFormat, Optional[int]]:
    """Reads a WAV header up to the start of its samples: (format, data bytes, or None when the stream
    does not say: 0 / 0xFFFFFFFF, as a program writing to a pipe leaves them)."""
    head = _read_exactly(stream, 12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise InputError(_not_wav(head))
    fmt: Optional[PcmFormat] = None
    while True:
        chunk = _read_exactly(stream, 8)
        if len(chunk) < 8:
            raise InputError("the WAV stream on standard input ended inside its header")
        tag, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if tag == b"data":
            if fmt is None:
                raise InputError("the WAV stream on standard input has no 'fmt ' chunk before its samples")
            return fmt, None if size in _UNKNOWN_SIZES or head[:4] == b"RF64" else size
        if tag == b"fmt " and size > MAX_HEADER_CHUNK:
            raise InputError(f"the WAV stream on standard input declares a 'fmt ' chunk of {size} bytes")
        if tag != b"fmt ":
            _skip(stream, size + (size & 1))  # LIST, bext, id3 ...: not held in memory, whatever they declare
            continue
        body = _read_exactly(stream, size + (size & 1))
        if len(body) < size:
            raise InputError("the WAV stream on standard input ended inside its header")
        fmt = _wav_format(body)


class PcmStream:
    """Blocks of a PCM stream as (channels, n) float32, in order; ``None`` at the end. A last partial frame
    is dropped and counted (``dropped_bytes``)."""

    def __init__(self, stream: BinaryIO, fmt: PcmFormat, data_bytes: Optional[int] = None) -> None:
        self.stream, self.format, self.left = stream, fmt, data_bytes
        self.dropped_bytes = 0
        self.ended_early = False  # fewer bytes than a WAV header declared

    def read(self, frames: int) -> Optional[np.ndarray]:
        want = frames * self.format.frame_bytes
        if self.left is not None:
            want = min(want, self.left)
        data = _read_exactly(self.stream, want) if want > 0 else b""
        if self.left is not None:
            self.left -= len(data)
            self.ended_early = len(data) < want
        whole = len(data) - len(data) % self.format.frame_bytes
        self.dropped_bytes += len(data) - whole
        return self.format.decode(data[:whole]) if whole else None


class PcmSink:
    """Writes (channels, n) float blocks to a binary stream as they come: WAV (a header with unknown sizes,
    then samples) or raw PCM, flushing after each block so that a reader downstream gets them at once."""

    def __init__(self, stream: BinaryIO, fmt: PcmFormat, wav: bool) -> None:
        self.stream, self.format = stream, fmt
        self.clipped = 0
        if wav:
            stream.write(_wav_header(fmt))

    def write(self, block: np.ndarray) -> None:
        if self.format.sample not in ("f32le", "f64le"):
            self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
        self.stream.write(self.format.encode(block))
        self.stream.flush()


def _wav_header(fmt: PcmFormat) -> bytes:
    tag = _WAVE_FORMAT_FLOAT if fmt.sample in ("f32le", "f64le") else _WAVE_FORMAT_PCM
    body = struct.pack("<HHIIHH", tag, fmt.channels, fmt.rate, fmt.rate * fmt.frame_bytes, fmt.frame_bytes,
                       8 * fmt.width)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", len(body)) + body
            + b"data" + struct.pack("<I", 0xFFFFFFFF))
