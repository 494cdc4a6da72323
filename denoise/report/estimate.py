"""How noisy is it? Noise estimates without denoising, for ``denoise estimate``, ``--json``, ``-v`` and the
report.

- Images: the Gaussian-equivalent noise standard deviation σ on the 0–255 scale, per channel, with the
  weak-texture-patch method of Liu, Tanaka and Okutomi ("Single-image noise level estimation for blind
  denoising", IEEE TIP 2013) and the eigenvalue rule of Chen, Zhu and Heng ("An efficient statistical
  method for image noise level estimation", ICCV 2015). Patches whose gradient energy could come from
  noise alone are kept; the noise variance is the mean of the smallest eigenvalues of their covariance,
  taken up to where mean and median agree.
- Audio: an SNR in dB and the noise floor in dBFS from the power spectrogram: per frequency bin the noise
  power is a low quantile over time, corrected for the exponential distribution that a noise bin's power
  follows; the rest of the power is signal.

Both assume noise that is random and independent of the signal: real camera noise (correlated between
neighbouring pixels, brighter where the picture is) and steady hum read as approximations.
``benchmarks/noise_estimates.py`` measures both against known noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

PATCH = 7  # pixels a side of the image patches
MAX_PATCHES = 60_000  # patches drawn per channel: bounds the time on a large photo (about 0.1 s a channel)
_MIN_PATCHES = 10 * PATCH * PATCH  # fewer give too noisy a covariance
_CLIPPED_ALLOWED = (0, 2, 5, 10)  # clipped pixels a patch may hold, tried in turn until enough patches remain
_GAMMA_QUANTILE = 0.99  # (see _weak_texture_limit) a patch is "weak texture" below this quantile of a pure-noise patch's gradient energy

FRAME_SECONDS = 0.032  # STFT frame of the audio estimate (50 % overlap, Hann window)
MIN_FLOOR_DBFS = -120.0  # a noise floor below this is digital silence or rounding: not measurable
NOISE_QUANTILE = 0.1  # per bin, this quantile of the power over time is taken as the noise's
MAX_AUDIO_SECONDS = 300.0  # longer files are estimated from evenly spaced excerpts adding up to this


@dataclass(frozen=True)
class ImageNoise:
    """σ of a Gaussian noise of the same strength, on the 0–255 scale: overall (the root mean square of
    the channels') and per channel. NaN where it cannot be told (see :func:`channel_sigma`); the overall
    value then comes from the other channels. ``unmeasurable``: why none of it can be told (all NaN)."""

    sigma: float
    sigma_per_channel: tuple[float, ...]
    unmeasurable: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: rounded, None for NaN, and ``unmeasurable`` only when set."""
        r = lambda v: None if math.isnan(v) else round(v, 3)  # noqa: E731
        out = {"sigma": r(self.sigma), "sigma_per_channel": [r(s) for s in self.sigma_per_channel]}
        return {**out, "unmeasurable": self.unmeasurable} if self.unmeasurable else out


@dataclass(frozen=True)
class AudioNoise:
    """``snr_db``: signal power over noise power; ``noise_floor_dbfs``: the noise's RMS level in dB relative to
    full scale (an amplitude of 1.0; a full-scale sine is -3 dBFS on this scale). Either is None when it
    cannot be measured, with the reason in ``unmeasurable``: no noise above digital silence (a floor below
    MIN_FLOOR_DBFS), or no signal above the noise."""

    snr_db: Optional[float]
    noise_floor_dbfs: Optional[float]
    unmeasurable: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


# ------------------------------------------------------------------------------------------------ images
def _gradient_operator(d: int) -> np.ndarray:
    """(d², d²) matrix M with p·M·p = the sum of squared horizontal and vertical neighbour differences
    of the flattened d×d patch p (the trace of its gradient covariance)."""
    idx = np.arange(d * d).reshape(d, d)
    pairs = list(zip(idx[:, :-1].ravel(), idx[:, 1:].ravel())) + list(zip(idx[:-1].ravel(), idx[1:].ravel()))
    g = np.zeros((len(pairs), d * d))
    for row, (a, b) in enumerate(pairs):
        g[row, a], g[row, b] = -1.0, 1.0
    return g.T @ g


_GRAD = _gradient_operator(PATCH)


def _noise_variance(eig: np.ndarray) -> float:
    """Chen et al.'s rule on ascending eigenvalues: the mean of the smallest ones, taking as many as keep
    the mean equal to their median (noise eigenvalues cluster; signal ones are few and large)."""
    eig = np.clip(eig, 0.0, None)
    for i in range(len(eig), 0, -1):
        tau = eig[:i].mean()
        if np.count_nonzero(eig[:i] > tau) == np.count_nonzero(eig[:i] < tau):
            return float(tau)
    return float(eig[0])


def _sample_patches(channel: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Up to MAX_PATCHES random PATCH×PATCH patches (n, PATCH²) on the 0–255 scale that touch neither 0 nor
    255 (clipped pixels carry no noise and would pass for clean flat areas), or, where too few are left,
    as few clipped pixels as leave enough."""
    h, w = channel.shape
    n_pos = (h - PATCH + 1) * (w - PATCH + 1)
    pos = rng.choice(n_pos, 2 * MAX_PATCHES, replace=False) if n_pos > 2 * MAX_PATCHES else np.arange(n_pos)
    ys, xs = np.divmod(pos, w - PATCH + 1)
    off = np.arange(PATCH)
    patches = channel[(ys[:, None, None] + off[None, :, None]), (xs[:, None, None] + off[None, None, :])]
    patches = np.round(patches.reshape(len(pos), -1).astype(np.float64) * scale, 6)
    clipped = np.count_nonzero((patches <= 0.0) | (patches >= 255.0), axis=1)
    # strong noise clips somewhere in almost every patch of a bright or dark picture: then allow a few
    for most in _CLIPPED_ALLOWED:
        keep = clipped <= most
        if np.count_nonzero(keep) >= _MIN_PATCHES:
            break
    return patches[keep][:MAX_PATCHES]


def _weak_texture_limit(n: int) -> float:
    """A pure-noise patch's texture is σ² times a weighted sum of n squared unit Gaussians, about tr(M)/n
    times a chi-square with n degrees of freedom: its ``_GAMMA_QUANTILE`` quantile (Wilson–Hilferty's
    approximation, within 1 % here), per unit of noise variance."""
    z = 2.3263  # the standard normal's 0.99 quantile
    chi2 = n * (1 - 2 / (9 * n) + z * math.sqrt(2 / (9 * n))) ** 3
    return float(np.trace(_GRAD)) / n * chi2


def channel_sigma(channel: np.ndarray, scale: float = 1.0, seed: int = 0) -> float:
    """σ of one (H, W) channel whose values times ``scale`` are on the 0–255 scale, on that scale; NaN for a
    channel too small, or too much of it clipped at 0 or 255, to tell."""
    if min(channel.shape) < PATCH:
        return math.nan
    p = _sample_patches(channel, scale, np.random.default_rng(seed))
    if len(p) < _MIN_PATCHES:
        return math.nan
    texture = np.sum((p @ _GRAD) * p, axis=1)
    n = PATCH * PATCH
    limit = _weak_texture_limit(n)
    var = _noise_variance(np.linalg.eigvalsh(np.cov(p, rowvar=False)))
    for _ in range(5):  # the weak-texture set depends on σ, σ on the set: a few rounds settle it
        weak = p[texture < var * limit]
        if len(weak) < 10 * n:
            break
        new = _noise_variance(np.linalg.eigvalsh(np.cov(weak, rowvar=False)))
        done = abs(new - var) <= 1e-3 * max(var, 1e-9)
        var = new
        if done:
            break
    return math.sqrt(var)


def image_noise(pixels: np.ndarray, jpeg_tables: Optional[dict[int, Any]] = None) -> ImageNoise:
    """Noise of a decoded picture: (H, W) or (H, W, C) in [0, 1] (as ``io.read_image`` gives it).
    ``jpeg_tables``: the quantisation tables of the JPEG it was decoded from (see :func:`jpeg_erased_sigma`)."""
    arr = np.asarray(pixels, np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    per = tuple(channel_sigma(arr[:, :, c], scale=255.0) for c in range(arr.shape[2]))
    known = [s for s in per if not math.isnan(s)]
    sigma = math.sqrt(float(np.mean(np.square(known)))) if known else math.nan
    erased = jpeg_erased_sigma(jpeg_tables) if jpeg_tables else 0.0
    if sigma < erased:
        return ImageNoise(math.nan, tuple(math.nan for _ in per),
                          f"below about σ {erased:.1f}, which this JPEG's compression removes from the flat "
                          "areas the noise is measured in")
    return ImageNoise(sigma, per)


def image_data_noise(data: Any) -> ImageNoise:
    """:func:`image_noise` of a decoded file (``io.ImageData``), with its JPEG tables when it is a JPEG."""
    return image_noise(data.pixels, data.encoding.get("qtables"))


def jpeg_erased_sigma(tables: dict[int, Any]) -> float:
    """The noise σ (0–255) under which a JPEG with these quantisation tables leaves too little noise in flat
    areas to measure: half the median step of the luma table's 63 AC coefficients. Noise coefficients
    within half a step of zero are stored as zero, so below this σ most of the noise in a flat 8×8 block is
    gone at half of the frequencies, and the estimate reads low (Pillow's quality 75, 90 and 95 give 14.5,
    5.5 and 3.0; tests/report/test_estimate.py checks both sides of the line)."""
    luma = np.asarray(tables[min(tables)], np.float64).ravel()
    return float(np.median(np.sort(luma)[1:]) / 2)  # the DC step is the table's smallest in every standard table


# ------------------------------------------------------------------------------------------------- audio
def power_frames(audio: np.ndarray, n: int, hop: int, remove_mean: bool = False) -> np.ndarray:
    """(..., T) -> (..., frames, n // 2 + 1): the power spectra of Hann-windowed frames of ``n`` samples every
    ``hop``, each frame's mean removed first when asked (numpy, for analysis and pictures; the models'
    own STFT is ``dsp.stft``)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, n, axis=-1)[..., ::hop, :]
    if remove_mean:
        frames = frames - frames.mean(axis=-1, keepdims=True)
    return np.abs(np.fft.rfft(frames * np.hanning(n), axis=-1)) ** 2


def _power_frames(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, bins) power spectra of every channel's Hann-windowed, mean-removed frames (a DC offset is
    not noise), and per bin the weight that turns a sum over bins into mean-square amplitude per sample
    (Parseval, one-sided)."""
    n = max(16, int(FRAME_SECONDS * sample_rate))
    window = np.hanning(n)
    power = power_frames(audio, n, n // 2, remove_mean=True).reshape(-1, n // 2 + 1)
    weight = np.full(power.shape[1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    return power, weight / (n * np.sum(window**2))


def _noise_power(power: np.ndarray) -> np.ndarray:
    """Per bin of (frames, bins) power, the noise's mean power. Random noise has exponentially distributed
    power in a bin, so its mean is the NOISE_QUANTILE quantile divided by -ln(1 - q) (about 9.5 times
    the quantile); a steady tone (mains hum, a fan's whine) has the same power in every frame, and its
    quantile is its mean. A bin counts as steady where the quantile is over half the median: for
    exponential power it is 0.15 of it."""
    low = np.quantile(power, NOISE_QUANTILE, axis=0)
    median = np.median(power, axis=0)
    steady = low > 0.5 * median
    return np.where(steady, low, low / -math.log(1.0 - NOISE_QUANTILE))


def _channel_noise(channel: np.ndarray, sample_rate: int) -> Optional[AudioNoise]:
    """The estimate of one channel (T,), or None for a digitally silent one."""
    power, weight = _power_frames(channel[None], sample_rate)
    total = float(power.mean(axis=0) @ weight)
    if total <= 1e-20:
        return None
    noise = float(_noise_power(power) @ weight)
    floor = 10 * math.log10(max(noise, 1e-30))
    if floor < MIN_FLOOR_DBFS:
        return AudioNoise(None, None, f"no noise above digital silence (floor below {MIN_FLOOR_DBFS:.0f} dBFS)")
    signal = total - noise
    if signal < 0.01 * noise:  # under -20 dB: the recording is its noise
        return AudioNoise(None, floor, "no signal above the noise")
    return AudioNoise(10 * math.log10(signal / noise), floor)


def audio_noise(audio: np.ndarray, sample_rate: int) -> AudioNoise:
    """Noise of (T,) or (channels, T) float audio: each channel's estimate, and of several the noisiest
    (the highest floor), so that a silent or clean channel does not hide a noisy one. Raises ValueError
    for audio shorter than a few frames or digitally silent in every channel (no SNR exists)."""
    arr = np.atleast_2d(np.asarray(audio, np.float64))
    if arr.shape[-1] < 4 * FRAME_SECONDS * sample_rate:
        raise ValueError(f"too short to estimate noise: {arr.shape[-1] / sample_rate * 1000:.0f} ms")
    found = [e for e in (_channel_noise(c, sample_rate) for c in arr) if e is not None]
    if not found:
        raise ValueError("silent: no noise to estimate")
    measured = [e for e in found if e.noise_floor_dbfs is not None]
    return max(measured, key=lambda e: e.noise_floor_dbfs) if measured else found[0]  # type: ignore[arg-type, return-value]


def audio_excerpts(frames: int, sample_rate: int, budget: float = MAX_AUDIO_SECONDS) -> list[tuple[int, int]]:
    """Spans (start, stop) to read for an estimate: the whole file up to ``budget`` seconds, else ten-second
    excerpts evenly spaced over it that add up to ``budget``."""
    if frames <= budget * sample_rate:
        return [(0, frames)]
    size = int(10 * sample_rate)
    count = int(budget // 10)
    starts = np.linspace(0, frames - size, count).astype(int)
    return [(int(a), int(a) + size) for a in starts]


def estimate_file(path: Any, domain: Optional[str] = None) -> dict[str, Any]:
    """The noise estimate of an image or audio file as a dict (``ImageNoise`` / ``AudioNoise`` fields);
    ``domain`` is taken from the extension when not given. Raises ``io.InputError`` for a file that
    cannot be read or estimated."""
    from pathlib import Path

    from denoise import io

    path = Path(path)
    domain = domain or io.domain_of(path)
    if domain == "image":
        return image_data_noise(io.read_image(path)).as_dict()
    info = io.audio_info(path)
    with io.open_reader(path, info.frames) as read:
        audio = np.concatenate([read(a, b) for a, b in audio_excerpts(info.frames, info.sample_rate)], axis=1)
    try:
        return audio_noise(audio, info.sample_rate).as_dict()
    except ValueError as exc:
        raise io.InputError(str(exc)) from None
