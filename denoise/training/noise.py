"""Corruption ("noise masks") applied to clean data during training and evaluation.

Every function takes an explicit ``torch.Generator`` so a corruption is reproducible from a seed, which is
what makes training resumable to the step and evaluation identical between runs. Images are (B, C, H, W)
in [0, 1]; waveforms are (B, T); log-spectrogram features are (B, 1, F, N).
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from denoise import dsp
from denoise.config import CorruptionConfig
from denoise.training.photo_noise import camera, jpeg_random, phone, uniform


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


# ----------------------------------------------------------------------------------------------- images
def gaussian(x: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Additive white Gaussian noise; ``sigma`` (B,) on the [0, 1] scale. Not clipped, as in the
    benchmark protocol (clipping would change the noise statistics near black and white)."""
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return x + _per_sample(sigma, x) * noise


def poisson(x: torch.Tensor, peak: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shot noise: photon counts with ``peak`` (B,) expected photons at white."""
    p = _per_sample(peak, x)
    return torch.poisson(x.clamp_min(0) * p, generator=gen) / p


def salt_pepper(x: torch.Tensor, amount: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A fraction ``amount`` (B,) of pixels set to 0 or 1 (impulse noise)."""
    u = torch.rand(x.shape, generator=gen, device=x.device)
    a = _per_sample(amount, x)
    salt = torch.rand(x.shape, generator=gen, device=x.device) < 0.5
    hit = u < a
    return torch.where(hit, salt.to(x.dtype), x)


def speckle(x: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Multiplicative noise x * (1 + n), n ~ N(0, sigma²): brightness-dependent, as in ultrasound/SAR."""
    noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return x * (1 + _per_sample(sigma, x) * noise)


def pixel_mask(x: torch.Tensor, fraction: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Drops a fraction (B,) of pixel positions (all channels) to 0: the masking corruption of the
    original denoising autoencoder."""
    b, _, h, w = x.shape
    keep = torch.rand((b, 1, h, w), generator=gen, device=x.device) >= _per_sample(fraction, x)
    return x * keep


class ImageCorruption:
    """Blind mixture of image corruptions. With probability ``p_camera`` an example gets camera noise
    (:func:`camera`, a share ``p_camera_nr`` of those with the camera's own noise reduction) alone, with
    ``p_phone`` heavy phone noise (:func:`phone`) alone; otherwise Gaussian
    noise with σ uniform in ``sigma_range``, and with the configured probabilities one of the other
    corruptions first (the Gaussian then 0.3 times as strong). A share ``p_jpeg`` of the examples with
    Gaussian noise alone are then saved as JPEG (:func:`jpeg_random`), which removes most of the colour
    noise and leaves noise that is mostly luma, as in noisy photos saved by phones and Pillow."""

    def __init__(self, cfg: CorruptionConfig) -> None:
        self.cfg = cfg

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        b, dev = x.shape[0], x.device
        out = x.clone()
        choice = torch.rand(b, generator=gen, device=dev)
        edges = torch.tensor([cfg.p_camera, cfg.p_phone, cfg.p_poisson, cfg.p_salt_pepper, cfg.p_speckle,
                              cfg.p_pixel_mask]).cumsum(0)
        kinds = [
            (lambda im, _, g: camera(im, g, p_nr=cfg.p_camera_nr), lambda n: torch.zeros(n)),
            (lambda im, _, g: phone(im, g), lambda n: torch.zeros(n)),
            (poisson, lambda n: uniform(n, 5.0, 100.0, gen, dev)),
            (salt_pepper, lambda n: uniform(n, 0.01, 0.15, gen, dev)),
            (speckle, lambda n: uniform(n, 0.05, 0.3, gen, dev)),
            (pixel_mask, lambda n: uniform(n, 0.05, 0.3, gen, dev)),
        ]
        lo = 0.0
        for (fn, draw), hi in zip(kinds, edges.tolist()):
            sel = (choice >= lo) & (choice < hi)
            lo = hi
            if sel.any():
                idx = sel.nonzero().squeeze(1)
                out[idx] = fn(out[idx], draw(len(idx)), gen)
        other = choice < lo  # got a non-Gaussian corruption: lighter Gaussian on top
        s_lo, s_hi = cfg.sigma_range
        sigma = uniform(b, s_lo, s_hi, gen, dev) / 255.0
        sigma = torch.where(other, sigma * 0.3, sigma)
        whole = cfg.p_camera + cfg.p_phone
        sigma = torch.where(choice < whole, 0.0, sigma)  # camera and phone noise are the whole corruption
        out = gaussian(out, sigma, gen)
        if cfg.p_jpeg > 0:
            sel = ~other & (torch.rand(b, generator=gen, device=dev) < cfg.p_jpeg)
            if sel.any():
                out[sel] = jpeg_random(out[sel].cpu(), gen).to(out)
        return out


# ------------------------------------------------------------------------------------------------ audio
def colored_noise(shape: tuple[int, int], exponent: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Noise with power spectrum 1/f**exponent per row: 0 white, 1 pink, 2 brown. (B, T), unit RMS."""
    b, t = shape
    white = torch.randn(shape, generator=gen)
    spec = torch.fft.rfft(white, dim=-1)
    f = torch.arange(spec.shape[-1], dtype=torch.float32).clamp_min(1.0)
    spec = spec / f.unsqueeze(0).pow(exponent.view(-1, 1) / 2)
    out = torch.fft.irfft(spec, n=t, dim=-1)
    return out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


def hum(shape: tuple[int, int], sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Mains hum at 50 or 60 Hz with decaying harmonics and random phases. (B, T), unit RMS."""
    b, t = shape
    base = torch.where(torch.rand(b, generator=gen) < 0.5, 50.0, 60.0).view(b, 1)
    n = torch.arange(t, dtype=torch.float32).view(1, t) / sample_rate
    out = torch.zeros(shape)
    for k in range(1, 8):
        phase = 2 * math.pi * torch.rand((b, 1), generator=gen)
        out += torch.sin(2 * math.pi * k * base * n + phase) / k
    return out / out.pow(2).mean(-1, keepdim=True).sqrt()


def clicks(shape: tuple[int, int], sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Sparse impulses (vinyl crackle, digital clicks): about 5 per second, random signs. (B, T)."""
    b, t = shape
    hits = torch.rand(shape, generator=gen) < 5.0 / sample_rate
    amp = torch.randn(shape, generator=gen)
    out = torch.where(hits, amp, torch.zeros(()))
    return out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


def transients(shape: tuple[int, int], sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Synthetic non-stationary noise, one kind per row, the kinds that a slowly adapting noise estimate
    misses: a siren (a harmonic tone whose pitch sweeps up and down), horn or bark-like bursts (harmonic
    tones of 0.1-1.5 s, pitch falling), or impacts (noise bursts decaying in 5-80 ms: shots, slams,
    dishes, keys). (B, T), unit RMS."""
    b, t = shape
    n = torch.arange(t, dtype=torch.float32) / sample_rate
    out = torch.zeros(shape)
    for i in range(b):
        kind = int(torch.randint(3, (), generator=gen))
        u = torch.rand(8, generator=gen)
        if kind == 0:  # siren
            f = 500 + 900 * u[0] + (150 + 500 * u[1]) * torch.sin(2 * math.pi * (0.2 + 2.8 * u[2]) * n)
            out[i] = _harmonics(torch.cumsum(f, 0) / sample_rate, 3)
        elif kind == 1:  # horn / bark bursts
            f = (250 + 650 * u[0]) * (1 - 0.3 * u[1] * (n % 1.0))
            gate = _bursts(t, sample_rate, 0.1 + 1.4 * u[2], 0.5 + 2 * u[3], gen)
            out[i] = _harmonics(torch.cumsum(f, 0) / sample_rate, 6) * gate
        else:  # impacts
            starts = _event_starts(t, (1 + 4 * u[0]) / sample_rate, gen) * torch.rand(t, generator=gen)
            decay = torch.exp(-torch.arange(t) / ((0.005 + 0.075 * u[1]) * sample_rate))
            env = torch.fft.irfft(torch.fft.rfft(starts, n=2 * t) * torch.fft.rfft(decay, n=2 * t), n=2 * t)[:t]
            out[i] = env * torch.randn(t, generator=gen)
    return out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


def _harmonics(cycles: torch.Tensor, k: int) -> torch.Tensor:
    """Sum of the first ``k`` harmonics (amplitude 1/h) of a tone whose phase is ``cycles`` (turns)."""
    return sum(torch.sin(2 * math.pi * h * cycles) / h for h in range(1, k + 1))  # type: ignore[return-value]


def _event_starts(t: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """(T,) 0/1: each sample starts an event with probability ``p``; at least one does."""
    starts = (torch.rand(t, generator=gen) < p).float()
    if not starts.any():
        starts[int(torch.randint(t, (), generator=gen))] = 1.0
    return starts


def _bursts(t: int, sample_rate: int, length_s: float, per_s: float, gen: torch.Generator) -> torch.Tensor:
    """(T,) 0/1 gate: bursts of ``length_s`` seconds starting about ``per_s`` times a second."""
    starts = _event_starts(t, per_s / sample_rate, gen)
    width = max(1, int(length_s * sample_rate))
    count = torch.cumsum(starts, 0)
    active = count - torch.cat([torch.zeros(min(width, t)), count[: max(0, t - width)]])  # starts in the last width
    return (active > 0).float()


def broadband(shape: tuple[int, int], sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Synthetic noise over the whole band, one kind per row, for full-band models (recorded full-band noise
    is scarce): coloured noise with a random spectral tilt (1/f**e, e from -1, hiss rising with frequency,
    to 2, rumble); hiss (white noise above 2-8 kHz) over a quieter tilt; a fan (pink airflow with its blade
    rate of 20-150 Hz and harmonics, slowly modulated); buzz (a 50, 60, 100 or 120 Hz tone with harmonics
    up to the Nyquist frequency: ground loops, dimmers); rain (dense decaying impulses over pink
    noise). (B, T), unit RMS."""
    b, t = shape
    out = colored_noise(shape, torch.rand(b, generator=gen) * 3.0 - 1.0, gen)
    f = torch.fft.rfftfreq(t, 1.0 / sample_rate)
    for i in range(b):
        kind = int(torch.randint(5, (), generator=gen))
        u = torch.rand(4, generator=gen)
        if kind == 1:  # hiss
            corner = 2000.0 + 6000.0 * float(u[0])
            spec = torch.fft.rfft(torch.randn(t, generator=gen)) / (1 + (corner / f.clamp_min(1.0)) ** 4)
            out[i] = 0.3 * out[i] + _unit(torch.fft.irfft(spec, n=t))
        elif kind == 2:  # fan
            rate = 20.0 + 130.0 * float(u[0])
            lines = _line_spectrum(t, sample_rate, rate, 1.0 + float(u[1]), min(sample_rate / 2, 40 * rate), gen)
            wobble = 1 + 0.3 * torch.sin(2 * math.pi * (0.1 + float(u[2])) * torch.arange(t) / sample_rate)
            out[i] = colored_noise((1, t), torch.ones(1), gen)[0] + 0.5 * lines * wobble
        elif kind == 3:  # buzz
            base = float(torch.tensor([50.0, 60.0, 100.0, 120.0])[int(torch.randint(4, (), generator=gen))])
            out[i] = 0.2 * out[i] + _line_spectrum(t, sample_rate, base, 0.5 + float(u[0]), sample_rate / 2, gen)
        elif kind == 4:  # rain
            starts = _event_starts(t, (50 + 350 * float(u[0])) / sample_rate, gen) * torch.randn(t, generator=gen)
            decay = torch.exp(-torch.arange(t) / ((0.0005 + 0.003 * float(u[1])) * sample_rate))
            drops = torch.fft.irfft(torch.fft.rfft(starts, n=2 * t) * torch.fft.rfft(decay, n=2 * t), n=2 * t)[:t]
            out[i] = _unit(drops) + 0.5 * colored_noise((1, t), torch.ones(1), gen)[0]
    return out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.pow(2).mean().sqrt().clamp_min(1e-8)


def _line_spectrum(t: int, sample_rate: int, base: float, slope: float, top: float,
                   gen: torch.Generator) -> torch.Tensor:
    """(T,) harmonics of ``base`` Hz up to ``top`` Hz, amplitude 1 / k**slope, random phases, unit RMS:
    made in the frequency domain (one bin per harmonic), so hundreds of harmonics cost one inverse FFT."""
    k = torch.arange(1, max(2, int(top / base)) + 1, dtype=torch.float32)
    bins = (k * base * t / sample_rate).round().long().clamp(1, t // 2)
    phase = torch.rand(len(k), generator=gen) * 2 * math.pi
    spec = torch.zeros(t // 2 + 1, dtype=torch.complex64)
    spec[bins] = torch.polar(k.pow(-slope), phase)
    return _unit(torch.fft.irfft(spec, n=t))


def room_tone(clean: torch.Tensor, sample_rate: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """(B, T) speech where, for a fraction ``p`` of the rows, the first 0.3-1.5 s (at most half the row)
    are silent, with a 10 ms fade-in after: mixed with noise, the recording starts with room tone, which
    is where a causal model has seen the least of the noise and must learn to remove it all the same."""
    b, t = clean.shape
    use = torch.rand(b, generator=gen) < p
    start = ((0.3 + 1.2 * torch.rand(b, generator=gen)) * sample_rate).long().clamp_max(t // 2)
    fade = max(1, int(0.01 * sample_rate))
    n = torch.arange(t).view(1, t)
    ramp = ((n - start.view(b, 1)) / fade).clamp(0.0, 1.0)
    return torch.where(use.view(b, 1), clean * ramp, clean)


def pauses(clean: torch.Tensor, sample_rate: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """(B, T) speech where, for a fraction ``p`` of the rows, a stretch of 0.8-2.5 s (at most half the row)
    after the first quarter is silenced, with 10 ms fades: mixed with noise, a long pause in which only the
    noise goes on. Read speech rarely pauses for long, and a causal model trained on it let the noise back
    in as a pause went on (benchmarks/steady_noise.py: a pause's third second against its first)."""
    b, t = clean.shape
    use = torch.rand(b, generator=gen) < p
    length = ((0.8 + 1.7 * torch.rand(b, generator=gen)) * sample_rate).long().clamp_max(t // 2)
    first = t // 4
    start = first + (torch.rand(b, generator=gen) * (t - first - length).clamp_min(0)).long()
    fade = max(1, int(0.01 * sample_rate))
    n = torch.arange(t).view(1, t)
    s, e = start.view(b, 1), (start + length).view(b, 1)
    ramp = torch.maximum(((s - n) / fade).clamp(0.0, 1.0), ((n - e) / fade).clamp(0.0, 1.0))
    return torch.where(use.view(b, 1), clean * ramp, clean)


def match_band(clean: torch.Tensor, noise: torch.Tensor, bands: torch.Tensor, sample_rate: int, p: float,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) speech and noise for rows whose speech was recorded at a lower rate (``bands`` (B,) Hz below
    the Nyquist frequency): the speech cut sharply at ``dsp.PASSBAND`` of its band, as inference gives
    such audio to the model (:func:`denoise.dsp.band_limit`), and for a fraction ``p`` of them the noise
    too: speech recorded at 16 kHz and mixed with full-band noise is a recording no one makes."""
    b = noise.shape[0]
    low = bands < sample_rate / 2
    use = (torch.rand(b, generator=gen) < p) & low  # drawn for every batch: later draws do not depend on it
    if not bool(low.any()):
        return clean, noise
    cut = dsp.band_limit(torch.stack([clean, noise]), sample_rate, (dsp.PASSBAND * bands).view(b, 1))
    return torch.where(low.view(b, 1), cut[0], clean), torch.where(use.view(b, 1), cut[1], noise)


def random_eq(noise: torch.Tensor, gen: torch.Generator, max_db: float = 12.0) -> torch.Tensor:
    """(B, T) noise through a random smooth equaliser per row (a gain curve over log frequency, made of
    three cosines, within about ±``max_db`` dB), so that the network does not learn the recorded
    noises' particular spectra. Unit RMS out."""
    b, t = noise.shape
    spec = torch.fft.rfft(noise, dim=-1)
    bins = spec.shape[-1]
    logf = (torch.arange(bins, dtype=torch.float32) * (80.0 / bins)).log1p().view(1, -1) / math.log1p(80.0)
    db = torch.zeros(b, spec.shape[-1])
    for k in range(1, 4):
        amp = (torch.rand(b, 1, generator=gen) * 2 - 1) * max_db / k
        phase = torch.rand(b, 1, generator=gen) * 2 * math.pi
        db = db + amp * torch.cos(math.pi * k * logf + phase)
    out = torch.fft.irfft(spec * 10 ** (db / 20), n=t, dim=-1)
    return out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """clean + noise scaled so that 10*log10(P_clean / P_noise) = snr_db (B,). (B, T)."""
    p_clean = clean.pow(2).mean(-1, keepdim=True).clamp_min(1e-10)
    p_noise = noise.pow(2).mean(-1, keepdim=True).clamp_min(1e-10)
    gain = torch.sqrt(p_clean / (p_noise * 10 ** (snr_db.view(-1, 1) / 10)))
    return clean + gain * noise


def tf_mask(features: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """SpecAugment-style masking of the network's input features (B, 1, F, N): for a fraction ``p`` of
    the examples, one band of up to 1/8 of the bins and one span of up to 1/8 of the frames are set to the
    feature minimum (silence). The target is unchanged, so the network learns to fill in from context."""
    b, _, f, n = features.shape
    out = features.clone()
    floor = features.amin(dim=(1, 2, 3))
    for i in range(b):
        if torch.rand((), generator=gen).item() >= p:
            continue
        fw = int(torch.randint(1, max(2, f // 8), (), generator=gen))
        f0 = int(torch.randint(0, max(1, f - fw), (), generator=gen))
        tw = int(torch.randint(1, max(2, n // 8), (), generator=gen))
        t0 = int(torch.randint(0, max(1, n - tw), (), generator=gen))
        out[i, :, f0 : f0 + fw, :] = floor[i]
        out[i, :, :, t0 : t0 + tw] = floor[i]
    return out


def blind_spot(x: torch.Tensor, fraction: float, gen: torch.Generator,
               radius: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void masking of (B, C, H, W), real or complex: a random ``fraction`` of positions (all
    channels together) take the value of a random *other* position at most ``radius`` away (reflected at
    the borders). Training on the noisy values at exactly those positions cannot teach the identity,
    because the network never sees them; with noise independent between positions, the best prediction
    is the clean value. Returns (masked copy, mask (B, 1, H, W) bool). Random numbers are drawn on the
    CPU (``gen`` is a CPU generator), then moved to ``x.device``."""
    b, c, h, w = x.shape
    if h < 3 or w < 3:
        raise ValueError(f"blind-spot masking needs at least 3x3 positions, got {h}x{w}")
    shape = (b, 1, h, w)
    mask = torch.rand(shape, generator=gen) < fraction
    dy = torch.randint(-radius, radius + 1, shape, generator=gen)
    dx = torch.randint(-radius, radius + 1, shape, generator=gen)
    dx = torch.where((dy == 0) & (dx == 0), torch.randint(0, 2, shape, generator=gen) * 2 - 1, dx)

    def reflect(i: torch.Tensor, n: int) -> torch.Tensor:
        i = i.abs()
        return torch.where(i > n - 1, 2 * (n - 1) - i, i).clamp(0, n - 1)

    y0, x0 = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    yy, xx = reflect(y0 + dy, h), reflect(x0 + dx, w)
    # a reflection can land back on the position itself (x=1, dx=-2); step the other way there
    again = (yy == y0) & (xx == x0)
    yy = torch.where(again, reflect(y0 - dy, h), yy)
    xx = torch.where(again, reflect(x0 - dx, w), xx)
    index = (yy * w + xx).view(b, 1, h * w).expand(b, c, h * w).to(x.device)
    src = x.reshape(b, c, h * w).gather(2, index).view_as(x)
    mask = mask.to(x.device)
    return torch.where(mask, src, x), mask


class AudioCorruption:
    """Noisy mixture for a batch of clean speech (B, T): recorded noise (when given) or synthetic
    white/pink/brown noise (or, for a share ``p_broadband``, :func:`broadband` noise) at an SNR uniform in
    ``snr_range``, sometimes with hum or clicks added, then a random overall gain so the model never depends
    on the recording level. A share ``p_room_tone`` of the rows start with the noise alone (:func:`room_tone`),
    a share ``p_pauses`` pause for a long while (:func:`pauses`); with ``p_match_band``, speech recorded at a
    lower rate is cut as inference cuts it, and that share of it gets its noise cut alike (:func:`match_band`)."""

    def __init__(self, cfg: CorruptionConfig, sample_rate: int) -> None:
        self.cfg = cfg
        self.sample_rate = sample_rate

    def __call__(
        self, clean: torch.Tensor, recorded: Optional[torch.Tensor], gen: torch.Generator,
        bands: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (noisy, clean), both scaled by the same random gain. ``recorded`` is (B, T) or None;
        ``bands`` (B,): the band in Hz of each row's speech recording, for ``p_match_band``."""
        cfg = self.cfg
        b, t = clean.shape
        synth = colored_noise((b, t), torch.randint(0, 3, (b,), generator=gen).float(), gen)
        if cfg.p_broadband > 0:
            use_bb = (torch.rand(b, generator=gen) < cfg.p_broadband).view(b, 1)
            synth = torch.where(use_bb, broadband((b, t), self.sample_rate, gen), synth)
        if cfg.p_room_tone > 0:
            clean = room_tone(clean, self.sample_rate, cfg.p_room_tone, gen)
        if cfg.p_pauses > 0:
            clean = pauses(clean, self.sample_rate, cfg.p_pauses, gen)
        if recorded is not None:
            use_rec = (torch.rand(b, generator=gen) < cfg.p_recorded).view(b, 1)
            rec = recorded / recorded.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
            noise = torch.where(use_rec, rec, synth)
        else:
            noise = synth
        if cfg.p_eq > 0:
            use_eq = (torch.rand(b, generator=gen) < cfg.p_eq).view(b, 1)
            noise = torch.where(use_eq, random_eq(noise, gen), noise)
        if cfg.p_transient > 0:
            use_tr = (torch.rand(b, generator=gen) < cfg.p_transient).view(b, 1)
            noise = torch.where(use_tr, 0.5 * noise + transients((b, t), self.sample_rate, gen), noise)
        extra_hum = (torch.rand(b, generator=gen) < cfg.p_hum).view(b, 1).float()
        extra_clk = (torch.rand(b, generator=gen) < cfg.p_clicks).view(b, 1).float()
        noise = noise + extra_hum * 0.7 * hum((b, t), self.sample_rate, gen)
        noise = noise + extra_clk * 0.7 * clicks((b, t), self.sample_rate, gen)
        if cfg.p_match_band > 0 and bands is not None:
            clean, noise = match_band(clean, noise, bands, self.sample_rate, cfg.p_match_band, gen)
        snr = uniform(b, *cfg.snr_range, gen, clean.device)
        noisy = mix_at_snr(clean, noise, snr)
        gain = 10 ** (uniform(b, *cfg.gain_db_range, gen, clean.device) / 20).view(b, 1)
        peak = noisy.abs().amax(-1, keepdim=True).clamp_min(1e-8)
        gain = torch.minimum(gain, 0.99 / peak)  # never clip
        return noisy * gain, clean * gain
