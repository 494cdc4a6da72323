"""Images: decode to float32 (H, W, C) in [0, 1] with what is needed to write them back in the same format,
mode and bit depth; refuse decompression bombs from the header; write atomically."""

from __future__ import annotations

import importlib.metadata
import logging
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from denoise.io.atomic import atomic_output
from denoise.io.base import InputError

log = logging.getLogger("denoise.io")


@dataclass
class ImageData:
    """Decoded image. ``pixels`` is float32 (H, W, C), C = 1 or 3, in [0, 1] (``depth == 32``: raw floats).

    ``mode`` is how to write it back: "1", "L", "RGB", "CMYK", "YCbCr", "F"; ``depth`` 8, 16 or 32 (float);
    ``alpha`` is the untouched alpha channel in its original integer dtype, or None.
    """

    pixels: np.ndarray
    mode: str
    depth: int
    alpha: Optional[np.ndarray] = None
    format: Optional[str] = None
    save_info: dict[str, Any] = field(default_factory=dict)
    frames: int = 1
    scale: float = 1.0  # float images: what the file's values were divided by (255 for a 0..255 scale)
    encoding: dict[str, Any] = field(default_factory=dict)  # the input's encoder settings (encoding_of)


def image_channels(path: Path) -> int:
    """1 for gray images, 3 for colour, from the header alone (picks the default model per file);
    unreadable files count as colour and fail later with their own message."""
    from PIL import Image

    try:
        header = _png_header(Path(path))
        if header is not None:
            return 1 if header[1] in (0, 4) else 3
        with Image.open(path) as im:
            return 1 if im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") else 3
    except Exception:
        return 3


def image_megapixels(path: Path) -> float:
    """Width × height / 1e6 from the header alone, for sizing a progress bar: 0.0 when it cannot be read
    (the file then fails later with the real reason)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.width * im.height / 1e6
    except Exception:  # noqa: BLE001 -- any unreadable file simply counts as zero pixels here
        return 0.0


def _png_header(path: Path) -> Optional[tuple[int, int, int, int]]:
    """(bit depth, colour type, width, height) from a PNG's IHDR, or None if the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return head[24], head[25], width, height


def max_image_pixels() -> int:
    """The most pixels an image may declare before it is refused unread: Pillow's decompression-bomb
    limit (``2 * Image.MAX_IMAGE_PIXELS``, about 179 million), applied to every decoder."""
    from PIL import Image

    return 2 * int(Image.MAX_IMAGE_PIXELS or 0) or 2**62


def _refuse_too_large(width: int, height: int) -> None:
    limit = max_image_pixels()
    if width * height > limit:
        raise InputError(f"refused: image too large ({width}x{height} = {width * height} pixels, over the "
                         f"limit of {limit}; nothing was decoded)")


def _torchvision_mismatch(exc: Exception) -> RuntimeError:
    """The one-line error for a torchvision that fails to load beside this torch (a wheel built for another
    torch version says "operator torchvision::nms does not exist"), with the command that installs a pair."""
    import torch

    try:
        found = f"torchvision {importlib.metadata.version('torchvision')}"
    except importlib.metadata.PackageNotFoundError:
        found = "torchvision (not installed)"
    return RuntimeError(f"16-bit PNGs are read with torchvision, and {found} does not load beside torch "
                        f"{torch.__version__} ({exc}); install a matching pair: pip install --upgrade torch "
                        "torchvision")


def _read_png16(path: Path) -> ImageData:
    import torch

    try:
        from torchvision.io import ImageReadMode, decode_png
    except (ImportError, RuntimeError) as exc:
        raise _torchvision_mismatch(exc) from None
    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders; Pillow has no 16-bit colour
        warnings.simplefilter("ignore", DeprecationWarning)
        arr = decode_png(data, mode=ImageReadMode.UNCHANGED).permute(1, 2, 0).numpy()  # (H, W, C) uint16
    arr = arr.astype(np.uint16, copy=False)
    c = arr.shape[2]
    alpha = arr[:, :, -1].copy() if c in (2, 4) else None
    color = arr[:, :, :3] if c >= 3 else arr[:, :, :1]
    return ImageData(color.astype(np.float32) / 65535.0, "RGB" if c >= 3 else "L", 16, alpha, "PNG")


FLOAT_SCALES = (1.0, 255.0, 65535.0)  # the scales float pictures come on: 0..1, 8-bit and 16-bit values


def float_scale(arr: np.ndarray, path: Path) -> float:
    """The full scale of a float picture: 1 for values in about 0..1 (the models' scale), 255 or 65535 for
    a picture stored on an integer scale (a float TIFF from a camera or a lab program), said with a
    warning; it is divided by that scale for the model and written back on it. NaN and Inf values, and
    values beyond any of these scales, raise InputError."""
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise InputError(f"the image has {bad} NaN or Inf values")
    top = float(np.abs(arr).max(initial=0.0))
    scale = next((s for s in FLOAT_SCALES if top <= 2.0 * s), None)
    if scale is None:
        raise InputError(f"float image with values up to {top:g}: not on a 0..1, 0..255 or 0..65535 scale")
    if scale > 1:
        log.warning("%s: float image with values up to %g: read as a 0..%g scale, and written back on it",
                    path, top, scale)
    return scale


def read_image(path: Path) -> ImageData:
    """Decodes an image file. Raises InputError with a one-line reason for anything unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        header = _png_header(path)
        if header is not None:
            _refuse_too_large(header[2], header[3])
        if header is not None and header[0] == 16 and header[1] in (2, 4, 6):
            return _read_png16(path)  # Pillow would silently reduce 16-bit colour to 8 bits
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            im.load()
    except Image.DecompressionBombError as exc:
        raise InputError(f"refused: image too large ({exc})") from None
    except UnidentifiedImageError:
        raise InputError("not a readable image") from None
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot decode image: {exc}") from None
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        log.warning("%s has %d frames; only the first is used", path, frames)
    data = _decoded(im, path)
    data.frames, data.encoding = frames, encoding_of(im)
    data.save_info = {k: im.info[k] for k in ("exif", "icc_profile", "dpi") if k in im.info}
    return data


def encoding_of(im: Any) -> dict[str, Any]:
    """The encoder settings of a decoded file that Pillow can write again, so that an output is encoded as
    its input was: a JPEG's quantisation tables (its quality), chroma subsampling and progressive mode; a
    TIFF's compression (LZW, Deflate ...). Applied only when the output has the input's format."""
    if im.format == "JPEG":
        from PIL import JpegImagePlugin

        found: dict[str, Any] = {"qtables": im.quantization} if getattr(im, "quantization", None) else {}
        sampling = JpegImagePlugin.get_sampling(im)
        if sampling >= 0:
            found["subsampling"] = sampling
        if im.info.get("progressive") or im.info.get("progression"):
            found["progressive"] = True
        return found
    if im.format == "TIFF" and im.info.get("compression") not in (None, "raw"):
        return {"compression": im.info["compression"]}
    return {}


def _decoded(im: Any, path: Path) -> ImageData:
    """The pixels of a loaded Pillow image, float32 (H, W, C) in [0, 1], with how to write them back."""
    fmt, mode, alpha = im.format, im.mode, None
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if (mode == "PA" or "transparency" in im.info) else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        im = im.convert("RGBA" if mode.startswith("RGB") else "LA")
        alpha = np.asarray(im.getchannel("A")).copy()
        im = im.convert("RGB" if im.mode == "RGBA" else "L")
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return ImageData(np.asarray(im).astype(np.float32)[:, :, None] / 65535.0, "L", 16, alpha, fmt)
    if mode == "I":
        arr = np.asarray(im).astype(np.float64)
        depth = 16 if arr.max(initial=0) > 255 else 8
        return ImageData((arr / (65535.0 if depth == 16 else 255.0)).astype(np.float32)[:, :, None], "L", depth,
                         alpha, fmt)
    if mode == "F":
        arr = np.asarray(im).astype(np.float32)[:, :, None]
        scale = float_scale(arr, path)
        return ImageData(arr / scale, "F", 32, alpha, fmt, scale=scale)
    if mode in ("1", "L"):
        return ImageData(np.asarray(im.convert("L")).astype(np.float32)[:, :, None] / 255.0, mode, 8, alpha, fmt)
    if mode in ("RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        arr = np.asarray(im.convert("RGB")).astype(np.float32) / 255.0
        return ImageData(arr, mode if mode in ("CMYK", "YCbCr") else "RGB", 8, alpha, fmt)
    raise InputError(f"unsupported image mode {mode}")


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16(path: Path, arr: np.ndarray) -> None:
    """Writes (H, W, C) uint16, C in 1..4 (gray, gray+alpha, RGB, RGBA), as a 16-bit PNG. Pillow and
    torchvision cannot encode 16-bit colour, and this is the whole format: IHDR, one IDAT, IEND."""
    h, w, c = arr.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = arr.astype(">u2").reshape(h, w * c).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter byte 0 per row
    png = b"\x89PNG\r\n\x1a\n"
    png += _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    png += _png_chunk(b"IDAT", zlib.compress(raw, 6))
    png += _png_chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def _quantize(pixels: np.ndarray, depth: int) -> np.ndarray:
    top = 65535.0 if depth == 16 else 255.0
    q = np.rint(np.clip(pixels, 0.0, 1.0) * top)
    return q.astype(np.uint16 if depth == 16 else np.uint8)


def image_format_for(path: Path) -> str:
    """The Pillow format that writes ``path``, from its extension. Pillow reads some formats it cannot
    write (.psd, .xpm, ...): those are refused here too."""
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"unknown image extension {Path(path).suffix!r} for output")
    if fmt not in Image.SAVE:
        raise InputError(f"cannot write images with extension {Path(path).suffix!r} (Pillow reads {fmt} "
                         f"but does not write it)")
    return fmt


def write_image(path: Path, data: ImageData, pixels: np.ndarray, name: Optional[Path] = None) -> None:
    """Writes ``pixels`` (H, W, C) float with ``data``'s mode, depth and alpha, in the format that
    ``path``'s extension names (temporary names end with the real extension). Warnings name ``name``
    (the final output, when ``path`` is its temporary file)."""
    from PIL import Image

    fmt = image_format_for(path)
    shown = Path(name or path)
    alpha = data.alpha
    same = data.encoding if fmt == data.format else {}  # encoded as the input was (encoding_of)
    if data.mode == "F":
        Image.fromarray((pixels[:, :, 0] * data.scale).astype(np.float32), mode="F").save(path, format=fmt, **same)
        return
    depth = data.depth
    if depth == 16 and fmt == "PNG":
        q = _quantize(pixels, 16)
        if alpha is not None:
            a16 = alpha.astype(np.uint16) * (257 if alpha.dtype == np.uint8 else 1)
            q = np.concatenate([q, a16[:, :, None]], axis=2)
        write_png16(path, q)
        return
    if depth == 16 and fmt == "TIFF" and q_is_gray(pixels) and alpha is None:
        Image.fromarray(_quantize(pixels, 16)[:, :, 0]).save(path, format=fmt, **same)  # uint16 -> mode I;16
        return
    if depth == 16:
        log.warning("%s: %s cannot hold 16-bit %s here; writing 8 bits", shown, fmt,
                    "gray" if q_is_gray(pixels) else "colour")
    q = _quantize(pixels, 8)
    im = Image.fromarray(q[:, :, 0], mode="L") if q.shape[2] == 1 else Image.fromarray(q, mode="RGB")
    if alpha is not None:
        a8 = (alpha >> 8).astype(np.uint8) if alpha.dtype == np.uint16 else alpha.astype(np.uint8)
        im.putalpha(Image.fromarray(a8, mode="L"))
        if fmt in ("JPEG", "BMP"):
            log.warning("%s: %s has no alpha channel; alpha dropped", shown, fmt)
            im = im.convert("RGB" if q.shape[2] == 3 else "L")
    elif data.mode == "1":
        im = im.point(lambda v: 255 if v >= 128 else 0).convert("1")
    elif data.mode in ("CMYK", "YCbCr") and fmt in ("JPEG", "TIFF"):
        im = im.convert(data.mode)
    options: dict[str, Any] = {k: v for k, v in data.save_info.items() if fmt in ("JPEG", "PNG", "TIFF", "WEBP")}
    if fmt == "JPEG" and not (fmt == data.format and "qtables" in data.encoding):
        options["quality"] = 95  # a JPEG from another format, or with tables Pillow did not read
    if fmt == "WEBP":
        options["quality"] = 95
    options.update(same)
    if fmt == "GIF":
        options = {}
        if im.mode in ("RGBA", "LA"):
            # GIF has one transparent palette entry, not an alpha channel: pixels under half opacity use it
            a = np.asarray(im.getchannel("A"))
            im = im.convert("RGB").quantize(255)
            idx = np.asarray(im).copy()
            idx[a < 128] = 255
            pal = im.getpalette()[: 255 * 3]
            im = Image.fromarray(idx, mode="P")
            im.putpalette(pal + [0, 0, 0])
            options["transparency"] = 255
        elif im.mode != "L":
            im = im.convert("RGB").quantize(256)
    im.save(path, format=fmt, **options)


def save_image(dst: Path, data: ImageData, pixels: np.ndarray, overwrite: bool) -> None:
    """:func:`write_image` through :func:`atomic_output`: the complete file appears at ``dst`` or nothing."""
    with atomic_output(dst, overwrite) as tmp:
        write_image(tmp, data, pixels, name=dst)


def q_is_gray(pixels: np.ndarray) -> bool:
    return pixels.shape[2] == 1
