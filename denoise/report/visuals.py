"""Pictures and previews that show a result: thumbnails, the zoomed detail crop, the side-by-side compare
picture, spectrograms and short audio previews. Used by ``--compare``, ``--spectrogram`` and the report.

Images come in as float arrays (H, W, C) in [0, 1] (``io.read_image``), audio as (channels, T) float.
Spectrograms need matplotlib, from the ``report`` extra; everything else needs only Pillow and soundfile.
"""

from __future__ import annotations

import io as _bytes_io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from denoise.extras import install_hint
from denoise.io import InputError, atomic_output

THUMB_SIDE = 640  # longest side of a thumbnail, in pixels
THUMB_BYTES = 110_000  # at most, so that a file's report media stay under 300 kB (two thumbnails, two crops)
CROP_SIDE = 96  # side of the detail crop, shown enlarged three times
ZOOM = 3
PREVIEW_SECONDS = 20.0  # audio players and spectrograms show the beginning of a file, this long
SPECTROGRAM_MIN_HZ = 50.0
SPECTROGRAM_RANGE_DB = 80.0
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message says what to install."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra(f"spectrograms need matplotlib: {install_hint('report')}") from None
    return plt


def require_matplotlib() -> None:
    """Raises :class:`MissingExtra` now rather than after the files are denoised."""
    _pyplot()


# ------------------------------------------------------------------------------------------------ images
def to_pil(pixels: np.ndarray) -> Any:
    """(H, W, C) or (H, W) floats in [0, 1] -> an 8-bit Pillow image ("L" or "RGB"; alpha is not shown)."""
    from PIL import Image

    arr = np.asarray(pixels, np.float32)
    arr = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr[:, :, :3] if arr.ndim == 3 else arr
    return Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))


@dataclass(frozen=True)
class Crop:
    """The detail shown enlarged: top-left corner and side, in the full picture's pixels."""

    top: int
    left: int
    side: int

    def box(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.left + self.side, self.top + self.side


def pick_crop(denoised: np.ndarray, side: int = CROP_SIDE) -> Crop:
    """The most detailed square of the denoised picture (largest summed gradient energy, on a grid of half
    the crop's side): where real detail is, smearing shows first, and noise left there is easiest to judge.
    The output is searched rather than the input, whose noise would make every region look detailed."""
    arr = np.asarray(denoised, np.float32)
    luma = arr.mean(axis=2) if arr.ndim == 3 else arr
    h, w = luma.shape
    side = min(side, h, w)
    energy = np.zeros((h, w), np.float64)
    energy[:, 1:] += np.diff(luma, axis=1) ** 2
    energy[1:, :] += np.diff(luma, axis=0) ** 2
    sat = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    step = max(1, side // 2)
    ys = sorted({*range(0, h - side + 1, step), h - side})
    xs = sorted({*range(0, w - side + 1, step), w - side})
    best = max(((sat[y + side, x + side] - sat[y, x + side] - sat[y + side, x] + sat[y, x], y, x)
                for y in ys for x in xs))
    return Crop(best[1], best[2], side)


def thumbnail(pixels: np.ndarray, side: int = THUMB_SIDE) -> Any:
    """A Pillow image at most ``side`` pixels on its longest side (Lanczos downscaling)."""
    from PIL import Image

    im = to_pil(pixels)
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return im


def crop_image(pixels: np.ndarray, crop: Crop) -> Any:
    """The crop at full resolution (enlarging is left to the viewer: the report scales it, pixelated)."""
    return to_pil(pixels).crop(crop.box())


def compare_picture(before: np.ndarray, after: np.ndarray, crop: Crop | None = None) -> Any:
    """Before and after side by side, the crop outlined on both, and below them the crop of each enlarged
    ``ZOOM`` times (nearest neighbour, so the pixels and the noise in them stay visible)."""
    from PIL import Image, ImageDraw

    crop = crop or pick_crop(after)
    thumbs = [thumbnail(p).convert("RGB") for p in (before, after)]
    scale = thumbs[0].width / np.shape(before)[1]
    zooms = [crop_image(p, crop).convert("RGB").resize((crop.side * ZOOM,) * 2, Image.Resampling.NEAREST)
             for p in (before, after)]
    pad, label = 8, 22
    tw, th, zs = thumbs[0].width, thumbs[0].height, zooms[0].width
    width = 2 * max(tw, zs) + 3 * pad
    canvas = Image.new("RGB", (width, 2 * label + th + zs + 3 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (t, z, name) in enumerate(zip(thumbs, zooms, ("before", "after"))):
        x = pad + i * (max(tw, zs) + pad)
        draw.text((x, pad), name, fill="black", font_size=16)
        canvas.paste(t, (x, pad + label))
        l, tp, r, b = (round(v * scale) for v in crop.box())
        draw.rectangle((x + l, pad + label + tp, x + r, pad + label + b), outline=(255, 40, 40), width=2)
        draw.text((x, 2 * pad + label + th), f"{name}, detail x{ZOOM}", fill="black", font_size=16)
        canvas.paste(z, (x, 2 * pad + 2 * label + th))
    return canvas


def save_picture(image: Any, dst: Path, overwrite: bool, max_bytes: int = 0, **params: Any) -> int:
    """Writes a Pillow image atomically (PNG, or JPEG for a .jpg name); returns its size in bytes. A JPEG
    over ``max_bytes`` is encoded again at lower qualities (down to 50): noisy pictures compress badly."""
    jpeg = Path(dst).suffix.lower() in (".jpg", ".jpeg")
    for quality in (params.pop("quality", 85), 75, 65, 50) if jpeg else (None,):
        buf = _bytes_io.BytesIO()
        image.save(buf, format="JPEG" if jpeg else "PNG", **params, **({"quality": quality} if jpeg else {}))
        if not max_bytes or buf.tell() <= max_bytes:
            break
    with atomic_output(Path(dst), overwrite) as tmp:
        tmp.write_bytes(buf.getvalue())
    return len(buf.getvalue())


# ------------------------------------------------------------------------------------------------- audio
def preview(audio: np.ndarray, sample_rate: int, seconds: float = PREVIEW_SECONDS) -> np.ndarray:
    """The first ``seconds`` of (channels, T) audio, mixed to mono: (T',) float32."""
    arr = np.atleast_2d(np.asarray(audio, np.float32))
    return arr[:, : int(seconds * sample_rate)].mean(axis=0)


def write_preview(mono: np.ndarray, sample_rate: int, dst: Path, overwrite: bool) -> int:
    """A compressed mono clip for a browser player (MP3, which every browser plays; rates MP3 cannot hold
    are resampled to 48 kHz). Returns the size in bytes."""
    import soundfile as sf

    from denoise.dsp import resample

    if sample_rate not in MP3_RATES:
        mono, sample_rate = resample(mono[None, :], sample_rate, 48000)[0], 48000
    with atomic_output(Path(dst), overwrite) as tmp:
        sf.write(str(tmp), np.clip(mono, -1.0, 1.0), sample_rate, format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=0.7, bitrate_mode="VARIABLE")
    return Path(dst).stat().st_size


def _power_db(mono: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(freqs, times, dB) of a Hann STFT with 32 ms frames and 8 ms hops, in dB relative to full scale."""
    from denoise.report.estimate import power_frames

    n = max(64, int(0.032 * sample_rate))
    hop = max(1, n // 4)
    if len(mono) < n:
        mono = np.pad(mono, (0, n - len(mono)))
    power = power_frames(mono, n, hop) / (np.sum(np.hanning(n)) ** 2 / 4)  # a full-scale sine: 0 dB
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    times = (np.arange(power.shape[0]) * hop + n / 2) / sample_rate
    return freqs, times, 10 * np.log10(np.maximum(power.T, 1e-12))


def spectrogram_figure(before: np.ndarray, after: np.ndarray, sample_rate: int, title: str = "") -> Any:
    """A matplotlib figure: the spectrograms of the before and after previews (mono, float) stacked, log
    frequency from ``SPECTROGRAM_MIN_HZ`` to Nyquist, dB colour over ``SPECTROGRAM_RANGE_DB`` below the
    input's peak, one colour bar."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True, constrained_layout=True)
    peak = None
    for ax, mono, name in zip(axes, (before, after), ("before", "after")):
        freqs, times, db = _power_db(mono, sample_rate)
        peak = db.max() if peak is None else peak
        keep = freqs >= SPECTROGRAM_MIN_HZ
        mesh = ax.pcolormesh(times, freqs[keep], db[keep], shading="auto", cmap="magma",
                             vmin=peak - SPECTROGRAM_RANGE_DB, vmax=peak, rasterized=True)
        ax.set_yscale("log")
        ticks = [f for f in (100, 250, 500, 1000, 2000, 4000, 8000, 16000) if f <= freqs[-1]]
        ax.set_yticks(ticks, [f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
        ax.minorticks_off()
        ax.set_ylabel("frequency (Hz)")
        # a file name is text, not matplotlib mathtext: "a$x$.wav" must not be typeset (or fail on "$\\x$")
        shown = title.replace("$", r"\$")
        ax.set_title(f"{name}{': ' + shown if title and name == 'before' else ''}", loc="left", fontsize=10)
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axes, label="level (dBFS)")
    return fig


def save_figure(fig: Any, dst: Path, overwrite: bool, dpi: int = 80) -> int:
    """Writes a matplotlib figure as PNG, or JPEG for a .jpg name (a quarter of the size for a noisy
    spectrogram), atomically; returns its size in bytes."""
    import matplotlib.pyplot as plt

    buf = _bytes_io.BytesIO()
    jpeg = Path(dst).suffix.lower() in (".jpg", ".jpeg")
    try:
        fig.savefig(buf, format="jpg" if jpeg else "png", dpi=dpi, **({"pil_kwargs": {"quality": 85}} if jpeg else {}))
    finally:
        plt.close(fig)
    with atomic_output(Path(dst), overwrite) as tmp:
        tmp.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def read_preview(path: Path) -> tuple[np.ndarray, int]:
    """The first ``PREVIEW_SECONDS`` of an audio file, mono: (samples, sample rate)."""
    from denoise import io

    info = io.audio_info(path)
    n = min(info.frames, int(PREVIEW_SECONDS * info.sample_rate))
    with io.open_reader(path, info.frames) as read:
        block = read(0, n)
    if not np.isfinite(block).all():
        raise InputError("the audio holds NaN or Inf samples")
    return preview(block, info.sample_rate), info.sample_rate
