"""Generators for the bad-input battery: every file is built here, nothing comes from outside."""

from __future__ import annotations

import io as pyio
import struct
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from denoise.io import write_png16

RNG = np.random.default_rng(0)


def _noise(h: int, w: int, c: int = 0) -> np.ndarray:
    shape = (h, w, c) if c else (h, w)
    return (RNG.random(shape) * 255).astype(np.uint8)


def png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = pyio.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG") if mode else Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = pyio.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def wav_bytes(x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> bytes:
    buf = pyio.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png() -> bytes:
    """A valid-looking PNG header declaring 100000 x 100000 pixels (10^10, far past Pillow's limit)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def speech(seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * RNG.standard_normal(t.size)
    return np.stack([x * (1 + 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else x


def make_images(d: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Writes the image cases into ``d``. Returns (good: name -> what is done, bad: name -> expected
    words of the one-line reason)."""
    d.mkdir(parents=True, exist_ok=True)
    good, bad = {}, {}

    def put(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)

    put("one_pixel.png", png_bytes(np.array([[128]], np.uint8)))
    good["one_pixel.png"] = "denoised (1x1 stays 1x1)"
    write_png16(d / "gray16.png", (RNG.random((20, 24, 1)) * 65535).astype(np.uint16))
    good["gray16.png"] = "16-bit gray in, 16-bit gray out"
    write_png16(d / "rgb16.png", (RNG.random((20, 24, 3)) * 65535).astype(np.uint16))
    good["rgb16.png"] = "16-bit colour in, 16-bit colour out"
    put("rgba.png", png_bytes(_noise(20, 24, 4), "RGBA"))
    good["rgba.png"] = "colour denoised, alpha copied unchanged"
    Image.fromarray(_noise(20, 24, 3)).convert("P", palette=Image.ADAPTIVE).save(d / "palette.png")
    good["palette.png"] = "palette expanded to RGB"
    put("gray_alpha.png", png_bytes(_noise(20, 24, 2), "LA"))
    good["gray_alpha.png"] = "gray denoised, alpha copied"
    Image.fromarray(_noise(20, 24, 3)).convert("CMYK").save(d / "cmyk.jpg", "JPEG")
    good["cmyk.jpg"] = "CMYK JPEG in, CMYK JPEG out"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° CW to display
    Image.fromarray(_noise(20, 30, 3)).save(d / "exif_rotated.jpg", "JPEG", exif=exif.tobytes())
    good["exif_rotated.jpg"] = "stored pixels denoised; EXIF (orientation included) copied, so it displays the same"
    frames = [Image.fromarray(_noise(16, 16)) for _ in range(3)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    good["anim.gif"] = "first frame only, with a warning"
    frames[0].save(d / "pages.tiff", save_all=True, append_images=frames[1:])
    good["pages.tiff"] = "first page only, with a warning"
    put("with space ü 名前.png", png_bytes(_noise(12, 12)))
    good["with space ü 名前.png"] = "denoised; name kept"
    put("palette_transparent.gif", b"")  # placeholder replaced below
    Image.fromarray(_noise(12, 12)).save(d / "palette_transparent.gif", transparency=0)
    good["palette_transparent.gif"] = "palette with transparency -> RGBA"

    put("empty.png", b"")
    bad["empty.png"] = "not a readable image"
    full = png_bytes(_noise(64, 64))
    put("truncated.png", full[: len(full) // 2])
    bad["truncated.png"] = "cannot decode"
    jpg = jpeg_bytes(_noise(64, 64, 3))
    put("truncated.jpg", jpg[: len(jpg) // 3])
    bad["truncated.jpg"] = "cannot decode"
    put("text.png", b"this is not an image\n" * 10)
    bad["text.png"] = "not a readable image"
    put("bomb.png", bomb_png())
    bad["bomb.png"] = "too large"
    nan = RNG.random((16, 16)).astype(np.float32)
    nan[3, 4] = np.nan
    Image.fromarray(nan, "F").save(d / "float_nan.tif")
    bad["float_nan.tif"] = "the image has 1 NaN or Inf values"
    return good, bad


def _wav_with_extra_chunks(x: np.ndarray, sr: int) -> bytes:
    """A PCM16 WAV with LIST/INFO and an unknown 'junk' chunk before 'data', as editors write them."""
    raw = wav_bytes(x, sr)
    fmt_end = raw.index(b"data")
    info = b"INFO" + b"INAM" + struct.pack("<I", 6) + b"title\x00"
    extra = b"LIST" + struct.pack("<I", len(info)) + info + b"junk" + struct.pack("<I", 4) + b"\x00" * 4
    body = raw[12:fmt_end] + extra + raw[fmt_end:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def make_audio(d: Path) -> tuple[dict[str, str], dict[str, str]]:
    d.mkdir(parents=True, exist_ok=True)
    good, bad = {}, {}
    x = speech()
    (d / "u8.wav").write_bytes(wav_bytes(x, subtype="PCM_U8"))
    good["u8.wav"] = "8-bit unsigned in, 8-bit out"
    (d / "pcm24.wav").write_bytes(wav_bytes(x, subtype="PCM_24"))
    good["pcm24.wav"] = "24-bit in, 24-bit out"
    (d / "pcm32.wav").write_bytes(wav_bytes(x, subtype="PCM_32"))
    good["pcm32.wav"] = "32-bit integer in, 32-bit out"
    (d / "six_channels.wav").write_bytes(wav_bytes(speech(channels=6)))
    good["six_channels.wav"] = "each of the 6 channels denoised"
    (d / "rate8k.wav").write_bytes(wav_bytes(speech(sr=8000), 8000))
    good["rate8k.wav"] = "resampled to the model's 16 kHz and back: 8 kHz out"
    (d / "rate96k.wav").write_bytes(wav_bytes(speech(sr=96000), 96000))
    good["rate96k.wav"] = "resampled down and back: 96 kHz out"
    (d / "extra_chunks.wav").write_bytes(_wav_with_extra_chunks(x, 16000))
    good["extra_chunks.wav"] = "extra chunks skipped"
    y = x.astype(np.float32).copy()
    y[100], y[200], y[300] = np.nan, np.inf, -np.inf
    (d / "nan_inf.wav").write_bytes(wav_bytes(y, subtype="FLOAT"))
    good["nan_inf.wav"] = "NaN/Inf treated as silence, with a warning; output finite"

    (d / "zero_samples.wav").write_bytes(wav_bytes(np.zeros(0, np.float32)))
    bad["zero_samples.wav"] = "no samples"
    full = wav_bytes(x)
    (d / "header_only.wav").write_bytes(full[:44])
    bad["header_only.wav"] = "no samples"
    (d / "truncated_data.wav").write_bytes(full[: 44 + (len(full) - 44) // 2])
    good["truncated_data.wav"] = "the frames present are denoised, with a warning naming the shortfall"
    (d / "empty.wav").write_bytes(b"")
    bad["empty.wav"] = "cannot read audio"
    (d / "text.flac").write_bytes(b"not audio at all\n" * 20)
    bad["text.flac"] = "cannot read audio"
    return good, bad
