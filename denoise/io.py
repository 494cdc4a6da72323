"""Files at the edges: discover inputs, name outputs, read and write images and audio, write atomically.

No tensor code lives here: images come out as float32 arrays (H, W, C) in [0, 1] plus what is needed to
write them back in the same format, mode and bit depth; audio is streamed in blocks with soundfile.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (input as given, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, reason): not an error, nothing to do


def _walk(root: Path, exts: frozenset[str], exclude: Optional[Path], skip_tagged: bool) -> tuple[list[Path], int]:
    """Files under ``root`` with a matching extension, sorted, and how many earlier outputs
    (``NAME.denoised.EXT``) ``skip_tagged`` left out. Symlinked directories are not followed (no loops);
    hidden entries (our temporary files start with '.') and ``exclude`` are skipped."""
    found: list[Path] = []
    tagged = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        dirnames[:] = sorted(
            n for n in dirnames
            if not n.startswith(".") and (exclude is None or (d / n).resolve() != exclude)
        )
        for name in sorted(filenames):
            p = d / name
            if name.startswith(".") or p.suffix.lower() not in exts:
                continue
            if skip_tagged and Path(name).stem.endswith(DENOISED_TAG):
                tagged += 1  # an earlier run's output written beside its input
                continue
            found.append(p)
    return found, tagged


def _none_found(what: str, tagged: int) -> str:
    if tagged:  # say why a folder of earlier outputs gives nothing to do
        return f"{what} except earlier outputs (NAME{DENOISED_TAG}.EXT), which are inputs only with -o"
    return what


def _check_output_directory(inputs: Sequence[str], output: str, out: Path, exts: frozenset[str],
                            wants_dir: bool) -> None:
    """Raises InputError, before any model is loaded, when ``-o`` must be a directory (several inputs, a
    directory or a glob) but names an existing file, or a new name with this domain's file extension:
    ``denoise image a.png b.png -o clean.png`` is far more likely a slip than a wish for a directory
    called clean.png. One missing input is left to the per-input "no such file" error."""
    first = Path(inputs[0])
    if len(inputs) > 1:
        what = f"{len(inputs)} inputs need"
    elif first.is_dir():
        what = "a directory input needs"
    elif glob.has_magic(inputs[0]) and not first.exists():
        what = "a glob needs"
    else:
        return
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {output}: is a file, but {what} a directory")
    if not out.exists() and not wants_dir and out.suffix.lower() in exts:
        raise InputError(f"-o {output}: looks like a file name, but {what} a directory "
                         f"(end it with / for a directory of that name)")


@dataclass(frozen=True)
class _Target:
    """Where a run's outputs go: ``out`` (None: beside each input), whether it is a single file, the folder
    whose files are never inputs, and whether directory inputs keep their own name under ``out``."""

    out: Optional[Path]
    single_file: bool
    exclude: Optional[Path]
    own_folder: bool


def _target(inputs: Sequence[str], output: Optional[str], exts: frozenset[str]) -> _Target:
    if output == "-":
        raise InputError("-o -: writing to standard output is not supported; name an output file or directory")
    if output is None:
        return _Target(None, False, None, False)
    out = Path(output)
    wants_dir = output.endswith(("/", os.sep))  # "-o x.png/": a directory by that name
    single = (len(inputs) == 1 and Path(inputs[0]).is_file() and not out.is_dir() and out.suffix != ""
              and not wants_dir)
    if single:
        return _Target(out, True, None, False)
    _check_output_directory(inputs, output, out, exts, wants_dir)
    return _Target(out, False, out.resolve(), sum(Path(i).is_dir() for i in inputs) > 1)


def _expand(item: str, target: _Target, exts: frozenset[str]) -> list[tuple[Path, Optional[Path]]] | str:
    """The files one input names, each with the root its tree is mirrored from (None: none), or the
    reason it names none."""
    p = Path(item)
    if p.is_dir():
        files, tagged = _walk(p, exts, target.exclude, skip_tagged=target.out is None)
        if not files:
            kinds = "/".join(sorted(e[1:] for e in exts))
            return _none_found(f"no {kinds} files found in directory", tagged)
        root = Path(os.path.abspath(p)).parent if target.own_folder else p
        return [(f, root) for f in files]
    if p.is_file():
        return [(p, None)]
    if p.exists() or p.is_symlink():
        return "not a regular file or directory"
    if not glob.has_magic(item):
        return "no such file or directory"
    matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
    files = [m for m in matches if m.is_file() and m.suffix.lower() in exts
             and not (target.exclude is not None and target.exclude in m.resolve().parents)]
    kept = [m for m in files if not (target.out is None and m.stem.endswith(DENOISED_TAG))]
    return [(f, None) for f in kept] if kept else _none_found("no files match this pattern", len(files))


def _destination(src: Path, root: Optional[Path], target: _Target) -> Path:
    if target.out is None:
        return src.with_name(src.stem + DENOISED_TAG + src.suffix)
    if target.single_file:
        return target.out
    if root is None:
        return target.out / src.name
    return target.out / (Path(os.path.abspath(src)).relative_to(root) if target.own_folder else src.relative_to(root))


def plan_jobs(inputs: Sequence[str], output: Optional[str], exts: frozenset[str]) -> Plan:
    """Expands files, directories (recursive) and globs into (source, destination) pairs.

    - no ``output``: ``NAME.denoised.EXT`` beside each input;
    - one input that is a file and ``output`` with a suffix that is not a directory: that file;
    - otherwise ``output`` is a directory: a directory input's tree is mirrored below it, a file or glob
      match lands directly in it. An existing file, or a new name ending in one of ``exts`` (unless it
      ends with a slash), raises InputError instead: such an ``output`` was meant as a file.
    Several directory inputs are each mirrored under a folder of their own name, as ``cp -r`` does
    (``a/x.png`` and ``b/x.png`` land at ``output/a/x.png`` and ``output/b/x.png``); a single one is
    mirrored directly in ``output``. Files inside ``output`` are never inputs (an earlier run's outputs
    under a recursive glob). Destinations are always below ``output`` when it is given, never equal to
    a source, and unique; clashes are reported as errors for the later input.
    """
    target = _target(inputs, output, exts)
    plan = Plan()
    seen: set[Path] = set()
    owners: dict[Path, Path] = {}
    for item in inputs:
        found = _expand(item, target, exts)
        if isinstance(found, str):
            plan.errors.append((item, found))
            continue
        for src, root in found:
            key = src.resolve()
            if key in seen:
                continue
            seen.add(key)
            dst = _destination(src, root, target)
            clash = ("output would overwrite the input" if dst.resolve() == key else
                     f"output {dst} is already the output of {owners[dst.resolve()]}" if dst.resolve() in owners
                     else None)
            if clash:
                plan.errors.append((str(src), clash))
                continue
            owners[dst.resolve()] = src
            plan.jobs.append(Job(src, dst))
    return plan


def plan(inputs: Sequence[str], output: Optional[str], domain: str, overwrite: bool = False,
         skip_existing: bool = False) -> Plan:
    """Everything that can be decided before a model loads, in one call: the jobs of :func:`plan_jobs`,
    less those that cannot be written or decoded (:func:`refuse_unwritable`), that are this run's own
    outputs (:func:`skip_own_outputs`) or whose output exists (:func:`settle_existing`). Raises
    InputError for an ``output`` that cannot be what the inputs need, or contradicting flags."""
    if overwrite and skip_existing:
        raise InputError("overwrite=True and skip_existing=True contradict each other")
    result = plan_jobs(inputs, output, IMAGE_EXTS if domain == "image" else AUDIO_EXTS)
    refuse_unwritable(result, domain)
    skip_own_outputs(result)
    settle_existing(result, overwrite, skip_existing)
    return result


# ------------------------------------------------------------------------------------------ atomic write
def _machine_id() -> str:
    """8 hex digits naming this machine, boot and PID namespace: two containers, or two hosts of a cluster,
    writing into one shared folder get different ones, so neither mistakes the other's live temporary
    files for its own dead ones (a PID means nothing outside its namespace)."""
    parts = [os.uname().nodename]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        with contextlib.suppress(OSError):
            parts.append(os.readlink(source) if source.endswith("/pid") else Path(source).read_text().strip())
    return f"{zlib.crc32('|'.join(parts).encode()) & 0xFFFFFFFF:08x}"


MACHINE_ID = _machine_id()
# A temporary file of another machine (or of an older denoise, whose names had no machine identity) is only
# removed once untouched this long: a live run rewrites its file at least every chunk or tile.
FOREIGN_TEMP_AGE = 24 * 3600.0


def create_temp(directory: Path, stem: str, suffix: str) -> Path:
    """Creates a new empty hidden file in ``directory`` and returns its path. Unlike ``mkstemp`` (always
    0600) the mode follows the umask, so the final file gets the permissions of any normally created file.
    The name holds :data:`MACHINE_ID` and the PID, for :func:`remove_stale_temps`."""
    for _ in range(100):
        path = Path(directory) / f".{stem[:40]}.{os.getpid()}-{MACHINE_ID}-{os.urandom(6).hex()}.tmp{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {directory}")


_TEMP_NAME = re.compile(r"^\..*\.(\d+)-(?:([0-9a-f]{8})-)?[0-9a-f]{12}\.tmp(\.[^.]*)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to someone else
        pass
    return True


def _is_dead_temp(directory: str, name: str, now: float) -> bool:
    """Whether ``name`` is a temporary file of :func:`create_temp` whose writer is provably gone: made on
    this machine (same identity) by a process that no longer exists, or, made elsewhere, untouched for
    :data:`FOREIGN_TEMP_AGE`."""
    m = _TEMP_NAME.match(name)
    if not m:
        return False
    pid, machine = int(m.group(1)), m.group(2)
    if machine == MACHINE_ID:
        return pid != os.getpid() and not _pid_alive(pid)
    try:
        return now - os.stat(os.path.join(directory, name)).st_mtime > FOREIGN_TEMP_AGE
    except OSError:
        return False


def remove_stale_temps(directory: Path) -> int:
    """Deletes temporary files that a killed run (kill -9, power cut) left in ``directory`` (see
    :func:`_is_dead_temp`); a live run's files, here or on another machine sharing the folder, are left
    alone. Returns how many were removed."""
    import time

    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    now = time.time()
    for name in names:
        if _is_dead_temp(str(directory), name, now):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
                removed += 1
    if removed:
        log.info("removed %d stale temporary file(s) in %s", removed, directory)
    return removed


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(dst: Path, overwrite: bool) -> Iterator[Path]:
    """Yields a temporary path in ``dst``'s directory; on success moves it to ``dst`` in one rename.

    Without ``overwrite`` the move is a hard link, which fails if ``dst`` appeared in the meantime, so a
    file is never replaced by accident. On any error the temporary file is removed: no partial output.
    The temporary name starts with '.' so directory scans never pick it up.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and not overwrite:
        raise OutputExists(dst)
    tmp = create_temp(dst.parent, dst.stem, dst.suffix)
    try:
        yield tmp
        fsync_file(tmp)  # the data reach the disk before the name does
        if overwrite:
            os.replace(tmp, dst)
        else:
            try:
                os.link(tmp, dst)
            except FileExistsError:
                raise OutputExists(dst) from None
            except OSError:  # file systems without hard links
                if dst.exists():
                    raise OutputExists(dst) from None
                os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# ------------------------------------------------------------------------------------------------ images
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


def _read_png16(path: Path) -> ImageData:
    import torch
    from torchvision.io import ImageReadMode, decode_png

    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders; Pillow has no 16-bit colour
        warnings.simplefilter("ignore", DeprecationWarning)
        arr = decode_png(data, mode=ImageReadMode.UNCHANGED).permute(1, 2, 0).numpy()  # (H, W, C) uint16
    arr = arr.astype(np.uint16, copy=False)
    c = arr.shape[2]
    alpha = arr[:, :, -1].copy() if c in (2, 4) else None
    color = arr[:, :, :3] if c >= 3 else arr[:, :, :1]
    return ImageData(color.astype(np.float32) / 65535.0, "RGB" if c >= 3 else "L", 16, alpha, "PNG")


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
    info = {k: im.info[k] for k in ("exif", "icc_profile", "dpi") if k in im.info}
    fmt = im.format
    mode = im.mode
    alpha = None
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if (mode == "PA" or "transparency" in im.info) else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        im = im.convert("RGBA" if mode.startswith("RGB") else "LA")
        alpha = np.asarray(im.getchannel("A")).copy()
        im = im.convert("RGB" if im.mode == "RGBA" else "L")
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im).astype(np.float32) / 65535.0
        return ImageData(arr[:, :, None], "L", 16, alpha, fmt, info, frames)
    if mode == "I":
        arr = np.asarray(im).astype(np.float64)
        depth = 16 if arr.max(initial=0) > 255 else 8
        return ImageData((arr / (65535.0 if depth == 16 else 255.0)).astype(np.float32)[:, :, None], "L", depth,
                         alpha, fmt, info, frames)
    if mode == "F":
        return ImageData(np.asarray(im).astype(np.float32)[:, :, None], "F", 32, alpha, fmt, info, frames)
    if mode in ("1", "L"):
        arr = np.asarray(im.convert("L")).astype(np.float32) / 255.0
        return ImageData(arr[:, :, None], mode, 8, alpha, fmt, info, frames)
    if mode in ("RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        arr = np.asarray(im.convert("RGB")).astype(np.float32) / 255.0
        back = mode if mode in ("CMYK", "YCbCr") else "RGB"
        return ImageData(arr, back, 8, alpha, fmt, info, frames)
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
    if data.mode == "F":
        Image.fromarray(pixels[:, :, 0].astype(np.float32), mode="F").save(path, format=fmt)
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
        Image.fromarray(_quantize(pixels, 16)[:, :, 0]).save(path, format=fmt)  # uint16 -> mode I;16
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
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "WEBP":
        options["quality"] = 95
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


# ------------------------------------------------------------------------------------------------- audio
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


Verdict = Optional[tuple[str, str]]  # None: keep the job; else ("failed" or "skipped", reason)


def _sift(plan: Plan, verdict: Callable[[Job], Verdict]) -> None:
    """Moves every job that ``verdict`` does not keep to ``plan.errors`` or ``plan.skipped``, in order."""
    kept: list[Job] = []
    for job in plan.jobs:
        found = verdict(job)
        if found is None:
            kept.append(job)
        else:
            status, reason = found
            (plan.skipped if status == "skipped" else plan.errors).append((str(job.src), reason))
    plan.jobs = kept


def skip_own_outputs(plan: Plan) -> None:
    """Moves the jobs whose source is another job's destination to ``plan.skipped``. A shell glob run twice,
    ``denoise image *.png``, names the first run's ``x.denoised.png`` beside ``x.png``; denoising it again
    would write ``x.denoised.denoised.png`` (or read a file this run is replacing), which nobody wants.
    Directories and quoted globs already leave tagged names out (:func:`plan_jobs`); this catches files
    named one by one. A lone ``x.denoised.png`` is still denoised: its output is not planned here."""
    outputs = {job.dst.resolve(): job.src for job in plan.jobs}

    def verdict(job: Job) -> Verdict:
        owner = outputs.get(job.src.resolve())
        return None if owner is None else ("skipped", f"the output of {owner} (also an input)")

    _sift(plan, verdict)


def existing_output(job: Job, overwrite: bool, skip_existing: bool) -> Verdict:
    """("skipped" or "failed", reason) when ``job``'s destination exists and may not be replaced, else None."""
    if overwrite or not job.dst.exists():
        return None
    if skip_existing:
        return "skipped", "output exists"
    return "failed", f"output exists: {job.dst} (overwrite=True replaces it, skip_existing=True skips it)"


def settle_existing(plan: Plan, overwrite: bool, skip_existing: bool) -> None:
    """Moves the jobs whose destination already exists out of ``plan.jobs``, unless ``overwrite``: to
    ``plan.skipped`` with ``skip_existing``, else to ``plan.errors``. Done before any model is loaded, so
    that a batch that is already finished returns at once. The inference loop checks again as each file
    comes up: another process may write one meanwhile."""
    _sift(plan, lambda job: existing_output(job, overwrite, skip_existing))


def refuse_unwritable(plan: Plan, domain: str) -> None:
    """Moves the jobs whose destination extension has no writer (``-o clean.xyz``, ``-o out.psd``), whose
    destination folder cannot be written (read-only, full), or whose source is a file of the other domain
    (``denoise audio photo.png``), from ``plan.jobs`` to ``plan.errors``, so that they fail before a model
    is loaded, not after each file has been denoised.
    So do sources in a format that cannot be decoded at all (``memo.m4a``, ``IMG_1.HEIC``): the error says
    to convert them, not that their extension cannot be written. The checks are table lookups, cheap enough
    to repeat for every job."""
    check = image_format_for if domain == "image" else audio_format_for
    folder_problem = functools.lru_cache(maxsize=None)(_folder_problem)
    other, other_exts = ("audio", AUDIO_EXTS) if domain == "image" else ("image", IMAGE_EXTS)
    reader, convert = ("Pillow", "to PNG or TIFF") if domain == "image" else ("libsndfile", "to WAV or FLAC")

    def verdict(job: Job) -> Verdict:
        ext = job.src.suffix.lower()
        if ext in other_exts:  # `denoise audio photo.png`: name the mix-up, not the writer
            return "failed", f"an {other} file: use `denoise {other}`"
        if ext in UNREADABLE_EXTS[domain]:
            how = f" (e.g. ffmpeg -i {job.src.name} {job.src.stem}.wav)" if domain == "audio" else ""
            return "failed", f"{reader} cannot decode {ext} files: convert it {convert} first{how}"
        try:
            check(job.dst)
        except InputError as exc:
            return "failed", str(exc)
        problem = folder_problem(job.dst.parent)
        if problem is None:
            problem = _space_problem(job)
        return None if problem is None else ("failed", problem)

    _sift(plan, verdict)


def _existing_ancestor(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _folder_problem(folder: Path) -> Optional[str]:
    """Why no output can be written in ``folder`` (or, where it does not exist yet, in the folder it will
    be made in), found by creating and removing a temporary file there; None when it can."""
    where = _existing_ancestor(folder)
    try:
        create_temp(where, "write-test", "").unlink()
    except OSError as exc:
        return f"cannot write in {where}: {exc.strerror or exc}"
    return None


def _space_problem(job: Job) -> Optional[str]:
    """"No space left" when the output's file system has less room than the input file takes: caught
    before the file is computed (a 12-megapixel photo takes minutes on a CPU), not after."""
    import shutil

    try:
        free = shutil.disk_usage(_existing_ancestor(job.dst.parent)).free
        need = job.src.stat().st_size
    except OSError:
        return None
    if free < need:
        return f"No space left on device: {free} bytes free for {job.dst}, the input alone is {need}"
    return None
