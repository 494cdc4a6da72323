"""Denoising standard input to standard output (``denoise image - -o -``, ``denoise audio - -o -``).

Audio flows through: WAV (also a stream of unknown length, as ffmpeg writes to a pipe) or raw PCM comes in,
is denoised chunk by chunk as it arrives, and goes out in the same sample format, WAV or raw, each block
flushed at once; memory holds one chunk. ``stream=True`` runs a causal model (crn) frame by frame
(:mod:`denoise.audio.realtime`, 32 ms of algorithmic delay at the model's rate) and any other in short chunks
(:data:`STREAM_CHUNKING`) for a bounded delay. Images are read whole, then written in their own format
or ``image_format``.
"""

from __future__ import annotations

import contextlib
import io as bytes_io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, Union

import numpy as np
from torch import nn

from denoise import io
from denoise.audio.chunks import Chunking, silence_nonfinite, stream_audio_blocks, warn_nonfinite
from denoise.image.arrays import ModelChoice, denoise_decoded
from denoise.io.pipes import PcmFormat, PcmSink, PcmStream, read_wav_header
from denoise.models import is_causal

log = logging.getLogger(__name__)

# --stream: 0.1 s chunks with 0.2 s of context and 20 ms cross-fades, normalised by the level of the last
# 10.5 s. Algorithmic delay: a chunk, its right-hand context and one fade, 0.32 s (benchmarks/streaming.py
# measures it with the compute time). Less context was faster but further from the file run (0.1 s: 23 dB
# SI-SDR against it, 0.2 s: 27 dB, both with each window's own level; the longer level: about 30 dB).
STREAM_CHUNKING = Chunking(chunk=0.1, context=0.2, fade=0.02, merge_tail=False, level=10.5, head=False)


def stream_latency_seconds(chunking: Chunking = STREAM_CHUNKING) -> float:
    """Worst-case algorithmic delay of a sample: it waits for the end of its chunk and the right-hand
    context (or the two fades that must follow a chunk, if longer), and the last fade is held back for the
    next chunk."""
    return chunking.chunk + max(chunking.context, 2 * chunking.fade) + chunking.fade


_SUBTYPE_OF = {"u8": "PCM_U8", "s16le": "PCM_16", "s24le": "PCM_24", "s32le": "PCM_32", "f32le": "FLOAT",
               "f64le": "DOUBLE"}
_PCM_OF = {v: k for k, v in _SUBTYPE_OF.items()}


def _pcm_of(subtype: str) -> str:
    """The PCM sample format closest to a libsndfile subtype (FLAC 16 bit -> s16le; anything unknown, such
    as Vorbis or MP3, -> f32le, which loses nothing)."""
    return _PCM_OF.get(subtype, "f32le")


@contextlib.contextmanager
def audio_source(src: Union[BinaryIO, Path], raw: Optional[PcmFormat] = None
                 ) -> Iterator[tuple[PcmFormat, Callable[[int], Optional[np.ndarray]], Optional[PcmStream]]]:
    """(format, ``read(n)`` giving (channels, <= n) blocks and None at the end, the PcmStream when ``src``
    is a stream): a WAV stream, raw PCM in ``raw``'s format, or an audio file that libsndfile reads."""
    if not isinstance(src, Path):
        fmt, data_bytes = (raw, None) if raw is not None else read_wav_header(src)
        stream = PcmStream(src, fmt, data_bytes)
        yield fmt, stream.read, stream
        return
    import soundfile as sf

    info = io.audio_info(src)
    with sf.SoundFile(str(src)) as fin:
        def read(n: int) -> Optional[np.ndarray]:
            block = fin.read(n, dtype="float32", always_2d=True)
            return np.ascontiguousarray(block.T) if len(block) else None

        yield PcmFormat(_pcm_of(info.subtype), info.sample_rate, info.channels), read, None


@contextlib.contextmanager
def audio_sink(dst: Union[BinaryIO, Path], fmt: PcmFormat, wav: bool = True, overwrite: bool = False
               ) -> Iterator[Callable[[np.ndarray], None]]:
    """``write(block)`` to a stream (WAV, or raw when not ``wav``; flushed block by block) or to a file
    (atomically, its container from the extension, the sample format kept where it can be)."""
    if not isinstance(dst, Path):
        sink = PcmSink(dst, fmt, wav)
        yield sink.write
        if sink.clipped:
            log.warning("standard output: %d samples over full scale were clipped", sink.clipped)
        return
    info = io.AudioInfo(fmt.rate, fmt.channels, 0, "WAV", _SUBTYPE_OF[fmt.sample])
    with io.atomic_output(dst, overwrite) as tmp, io.open_writer(tmp, dst, info) as writer:
        yield writer.write
    writer.report_clipping()


def denoise_audio_stream(model: nn.Module, src: Union[BinaryIO, Path], dst: Union[BinaryIO, Path],
                         raw: Optional[PcmFormat] = None, strength: float = 1.0, stream: bool = False,
                         overwrite: bool = False) -> dict[str, Any]:
    """Denoises ``src`` (standard input: a WAV stream, or raw PCM in ``raw``'s format; or a file) into ``dst``
    (standard output: WAV, or raw when the input was raw; or a file) chunk by chunk as the samples arrive,
    in bounded memory. Returns frames, rate, channels and sample format. Raises ``io.InputError`` for
    input that is not what it should be."""
    frames = 0
    with audio_source(src, raw) as (fmt, read, stream_in), audio_sink(dst, fmt, raw is None, overwrite) as write:
        def counted(block: np.ndarray) -> None:
            nonlocal frames
            frames += block.shape[1]
            write(block)

        if stream and is_causal(model):
            nonfinite = _stream_frames(model, read, counted, fmt, strength)
        else:
            chunking = STREAM_CHUNKING if stream else Chunking()
            nonfinite = stream_audio_blocks(model, read, counted, fmt.rate, strength, chunking, name="standard input")
        if nonfinite:
            warn_nonfinite(src if isinstance(src, Path) else "input")
    if stream_in is not None and stream_in.dropped_bytes:
        log.warning("standard input ended inside a frame: its last %d bytes were dropped", stream_in.dropped_bytes)
    if stream_in is not None and stream_in.ended_early:
        log.warning("standard input ended before the length its WAV header declared")
    return {"frames": frames, "sample_rate": fmt.rate, "channels": fmt.channels, "format": fmt.sample}


def _stream_frames(model: nn.Module, read: Callable[[int], Optional[np.ndarray]],
                   write: Callable[[np.ndarray], None], fmt: PcmFormat, strength: float) -> bool:
    """A causal model, frame by frame (:class:`denoise.audio.realtime.CausalStream`): blocks of one STFT hop are
    read, and each output sample is written as soon as it is final. Returns True if NaN or Inf samples
    were met (treated as silence)."""
    from denoise.audio.realtime import CausalStream

    stream = CausalStream(model, fmt.rate, fmt.channels, strength)
    block = max(1, round(model.stft_cfg.hop_length * fmt.rate / model.sample_rate))
    nonfinite = False
    while (b := read(block)) is not None and b.shape[1]:
        nonfinite |= silence_nonfinite(b)
        out = stream.push(b)
        if out.shape[1]:
            write(out)
    out = stream.finish()
    if out.shape[1]:
        write(out)
    return nonfinite


def _suffix_for(image_format: str) -> str:
    from PIL import Image

    Image.init()
    for ext, fmt in Image.EXTENSION.items():
        if fmt == image_format.upper() and fmt in Image.SAVE:
            return ext
    raise io.InputError(f"cannot write images in format {image_format!r}")


def denoise_image_bytes(model: ModelChoice, data: bytes, image_format: Optional[str] = None, **kw: Any) -> bytes:
    """An encoded picture -> the denoised picture encoded in ``image_format`` (default: the input's own),
    with the mode, depth and alpha rules of files. ``kw`` are :func:`denoise_decoded`'s options."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise io.InputError("standard input is empty: no image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(bytes_io.BytesIO(data)) as im:
                found = im.format or ""
    except Image.DecompressionBombError as exc:  # the same guard as a file named on the command line
        raise io.InputError(f"refused: image too large ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise io.InputError("standard input is not a readable image") from None
    with tempfile.TemporaryDirectory(prefix="denoise-") as folder:
        src = Path(folder) / f"stdin{_suffix_for(found)}"
        src.write_bytes(data)
        decoded = io.read_image(src)
        pixels = denoise_decoded(model, decoded, "standard input", **kw)
        dst = Path(folder) / f"stdout{_suffix_for(image_format or found)}"
        io.write_image(dst, decoded, pixels, name=Path("standard output"))
        return dst.read_bytes()
