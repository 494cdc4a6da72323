"""Photographic noise for training: clean sRGB pictures taken back to a camera's raw space, given shot,
read and row noise on a Bayer mosaic, and processed forward again (demosaic, white balance, colour
matrix, gamma, tone curve), with a phone's own smoothing and sharpening and JPEG on top where asked.

Every function takes an explicit ``torch.Generator``, as in :mod:`denoise.training.noise`. Pictures are
(B, C, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch


def uniform(n: int, lo: float, hi: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n,) values uniform in [lo, hi) from ``gen``."""
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


# Real sensor noise, synthesised as in Brooks et al., "Unprocessing Images for Learned Raw Denoising"
# (CVPR 2019) and CBDNet (Guo et al., CVPR 2019): a clean sRGB patch is taken back to linear camera raw,
# heteroscedastic shot + read noise is drawn at each Bayer site, and the result is processed forward again.
# One departure: only the *noise* goes through the mosaic and bilinear demosaic, not the signal. The noise
# then has the spatial and cross-channel correlation of demosaiced raw noise, while a patch with no noise
# comes back unchanged (a demosaiced signal would be blurred, and the model would learn to sharpen).


LUMA = (0.299, 0.587, 0.114)  # RGB weights of gray (ITU-R BT.601), wherever colour becomes gray


def tone_curve(x: torch.Tensor) -> torch.Tensor:
    """The global tone curve of an image pipeline (smoothstep 3x² - 2x³), [0, 1] -> [0, 1]."""
    x = x.clamp(0, 1)
    return 3 * x * x - 2 * x * x * x


def tone_curve_inverse(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`tone_curve` on [0, 1]."""
    return 0.5 - torch.sin(torch.asin((1 - 2 * y.clamp(0, 1))) / 3)


def gamma_expand(y: torch.Tensor) -> torch.Tensor:
    """Display values to linear light (gamma 2.2)."""
    return y.clamp_min(1e-10).pow(2.2)


def gamma_compress(x: torch.Tensor) -> torch.Tensor:
    """Linear light to display values (gamma 1/2.2)."""
    return x.clamp_min(1e-10).pow(1 / 2.2)


@dataclass
class CameraParams:
    """Per-patch camera parameters (all (B,) or (B, 3, 3)), drawn by :meth:`draw`.

    - ``rgb2cam``: the inverse colour matrix. Camera colour filters overlap, so camera channels are mixtures
      of sRGB ones: identity plus positive off-diagonal terms (strength uniform in [0.1, 0.5]), rows
      normalised to sum to 1 (white stays white). Its inverse, applied when processing, has negative
      off-diagonal terms that spread and correlate the noise across colours, as in real photos.
    - ``red_gain``, ``blue_gain``: white balance, uniform in [1.9, 2.4] and [1.5, 1.9] (Brooks et al.).
    - ``exposure``: raw brightness factor in [0.6, 1.0] (the raw image is darker than the rendered one).
    - ``shot``, ``read``: noise variance = shot · raw + read, raw in [0, 1]. log(shot) is uniform over
      [log 1e-5, log 1e-2] (from a clean base ISO to a dark high-ISO shot; PSNR 20 to 50 dB, median 35); log(read) = 2.18 log(shot) +
      1.2 + N(0, 0.26²), the correlation fitted on real sensors by Brooks et al.
    - ``phase``: the Bayer pattern's offset, 0..3 (RGGB, GRBG, GBRG, BGGR).
    """

    rgb2cam: torch.Tensor
    red_gain: torch.Tensor
    blue_gain: torch.Tensor
    exposure: torch.Tensor
    shot: torch.Tensor
    read: torch.Tensor
    phase: torch.Tensor

    @classmethod
    def draw(cls, b: int, gen: torch.Generator, shot_range: tuple[float, float] = (1e-5, 1e-2)) -> "CameraParams":
        strength = uniform(b, 0.1, 0.5, gen, torch.device("cpu")).view(b, 1, 1)
        off = torch.rand((b, 3, 3), generator=gen) * (1 - torch.eye(3))
        m = torch.eye(3) + strength * off
        rgb2cam = m / m.sum(dim=2, keepdim=True)
        red = uniform(b, 1.9, 2.4, gen, torch.device("cpu"))
        blue = uniform(b, 1.5, 1.9, gen, torch.device("cpu"))
        exposure = uniform(b, 0.6, 1.0, gen, torch.device("cpu"))
        lo, hi = math.log(shot_range[0]), math.log(shot_range[1])
        log_shot = uniform(b, lo, hi, gen, torch.device("cpu"))
        log_read = 2.18 * log_shot + 1.2 + 0.26 * torch.randn(b, generator=gen)
        phase = torch.randint(0, 4, (b,), generator=gen)
        return cls(rgb2cam, red, blue, exposure, log_shot.exp(), log_read.exp(), phase)

    def gains(self) -> torch.Tensor:
        """(B, 3, 1, 1) per-channel factors from raw to white-balanced camera values."""
        ones = torch.ones_like(self.red_gain)
        return (torch.stack([self.red_gain, ones, self.blue_gain], 1) / self.exposure.view(-1, 1)).view(-1, 3, 1, 1)


def _apply_matrix(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) colours times (B, 3, 3) matrices."""
    return torch.einsum("bij,bjhw->bihw", m, x)


def unprocess(rgb: torch.Tensor, cam: CameraParams) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] to linear camera raw (B, 3, H, W), before the mosaic."""
    lin = gamma_expand(tone_curve_inverse(rgb))
    return _apply_matrix(lin, cam.rgb2cam.to(rgb)) / cam.gains().to(rgb)


def process(raw: torch.Tensor, cam: CameraParams) -> torch.Tensor:
    """Linear camera raw (B, 3, H, W) back to sRGB in [0, 1]: white balance, colour matrix, gamma, tone."""
    balanced = (raw * cam.gains().to(raw)).clamp(0, 1)
    lin = _apply_matrix(balanced, torch.linalg.inv(cam.rgb2cam).to(raw)).clamp(0, 1)
    return tone_curve(gamma_compress(lin))


def bayer_masks(b: int, h: int, w: int, phase: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) 0/1 masks of the sites of each colour in an RGGB pattern shifted by ``phase`` (B,)."""
    dy, dx = (phase // 2).view(b, 1, 1), (phase % 2).view(b, 1, 1)
    yy = (torch.arange(h).view(1, h, 1) + dy) % 2
    xx = (torch.arange(w).view(1, 1, w) + dx) % 2
    red, blue = (yy == 0) & (xx == 0), (yy == 1) & (xx == 1)
    return torch.stack([red, ~(red | blue), blue], 1).float()


def demosaic_bilinear(mosaic: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Bilinear demosaic: (B, 3, H, W) values kept at each colour's sites (zero elsewhere) -> full planes."""
    k_rb = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4
    k_g = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
    kernel = torch.stack([k_rb, k_g, k_rb]).unsqueeze(1).to(mosaic)
    padded = torch.nn.functional.pad(mosaic * masks, (1, 1, 1, 1), mode="reflect")
    return torch.nn.functional.conv2d(padded, kernel, groups=3)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Round trip of one (3, H, W) image in [0, 1] through 8-bit JPEG (Pillow, 4:2:0) at ``quality``; a
    (1, H, W) one goes through a gray JPEG."""
    import io

    import numpy as np
    from PIL import Image

    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    mode = "L" if x.shape[0] == 1 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(u8[..., 0] if mode == "L" else u8, mode).save(buf, format="JPEG", quality=quality)
    back = np.asarray(Image.open(buf).convert(mode)).reshape(u8.shape)
    return torch.from_numpy(back.copy()).permute(2, 0, 1).to(x.dtype) / 255


def capture(rgb: torch.Tensor, cam: CameraParams, gen: torch.Generator, row_noise: float = 0.0) -> torch.Tensor:
    """Clean sRGB (B, 3, H, W) as the camera ``cam`` would have captured it: unprocessed to raw, noise of
    variance shot · raw + read drawn at each Bayer site, plus with ``row_noise`` > 0 a random offset per
    sensor row (up to ``row_noise`` times the read noise's standard deviation), demosaiced and processed
    back. (B, 3, H, W) in [0, 1]."""
    b, _, h, w = rgb.shape
    raw = unprocess(rgb, cam)
    masks = bayer_masks(b, h, w, cam.phase).to(rgb)
    site = (raw * masks).sum(1, keepdim=True)  # the raw value each site measures
    read = cam.read.view(b, 1, 1, 1).to(rgb)
    variance = cam.shot.view(b, 1, 1, 1).to(rgb) * site.clamp_min(0) + read
    noise = variance.sqrt() * torch.randn((b, 1, h, w), generator=gen).to(rgb)
    if row_noise > 0:
        rows = row_noise * torch.rand((b, 1, 1, 1), generator=gen).to(rgb) * read.sqrt()
        noise = noise + rows * torch.randn((b, 1, h, 1), generator=gen).to(rgb)
    return process((raw + demosaic_bilinear(noise.expand(b, 3, h, w), masks)).clamp(0, 1), cam)


def _as_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 1 or 3, H, W) -> (B, 3, H, W): gray goes through a camera as R = G = B."""
    return x.expand(x.shape[0], 3, *x.shape[2:]) if x.shape[1] == 1 else x


def _as_input(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) back to ``like``'s channels: a gray input comes back as luma."""
    if like.shape[1] == 1:
        return (out * torch.tensor(LUMA).view(1, 3, 1, 1).to(like)).sum(1, keepdim=True)
    return out


def camera(x: torch.Tensor, gen: torch.Generator, p_jpeg: float = 0.5,
           params: Optional[CameraParams] = None, p_nr: float = 0.0) -> torch.Tensor:
    """Camera noise on clean sRGB (B, C, H, W) in [0, 1], C = 3 or 1 (gray goes through as R = G = B and
    comes back as luma): :func:`capture`, for a fraction ``p_nr`` of the patches the camera's own noise
    reduction (:func:`camera_nr`), then, for a fraction ``p_jpeg``, JPEG at a quality uniform in 60..95.
    ``params`` fixes the camera (tests); by default each patch gets its own from ``gen``. With ``p_nr`` 0
    nothing more is drawn from ``gen`` than before it existed, so earlier recipes draw the same noise."""
    b = x.shape[0]
    cam = params or CameraParams.draw(b, gen)
    rgb = _as_rgb(x)
    out = capture(rgb, cam, gen)
    if p_nr > 0:
        use_nr = torch.rand(b, generator=gen) < p_nr
        if use_nr.any():
            out[use_nr] = camera_nr(out[use_nr], rgb[use_nr], gen)
    quality = torch.randint(60, 96, (b,), generator=gen)
    use_jpeg = torch.rand(b, generator=gen) < p_jpeg
    out = torch.stack([jpeg(o, int(q)) if j else o for o, q, j in zip(out, quality, use_jpeg)])
    return _as_input(out, x)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) with standard deviation ``sigma`` pixels (reflect edges)."""
    r = max(1, int(math.ceil(2.5 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    r_eff = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    x = torch.nn.functional.pad(x, (r_eff, r_eff, r_eff, r_eff), mode="reflect")
    if r_eff < r:  # patches smaller than the kernel: replicate the rest
        x = torch.nn.functional.pad(x, (r - r_eff,) * 4, mode="replicate")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def luma_chroma_filter(x: torch.Tensor, gen: torch.Generator, chroma_sigma: tuple[float, float],
                       luma_weight: tuple[float, float], sharpen: tuple[float, float]) -> torch.Tensor:
    """In-camera filtering of (B, 3, H, W) RGB values in YCbCr, one random setting per image, each uniform
    in its (lo, hi) range: chroma blurred by a Gaussian of σ ``chroma_sigma`` px; luma moved a share
    ``luma_weight`` of the way to its blur (σ 0.5-1.2 px), then sharpened by an unsharp mask of amount
    ``sharpen`` (0: none). Linear and unclamped, so it applies to an image or to noise alone."""
    m = _RGB2YCC.to(x)
    out = []
    for im in x:
        ycc = torch.einsum("ij,jhw->ihw", m, im).unsqueeze(0)
        s_c, s_y, w, amount = (float(v) for v in torch.rand(4, generator=gen))
        chroma = gaussian_blur(ycc[:, 1:], chroma_sigma[0] + (chroma_sigma[1] - chroma_sigma[0]) * s_c)
        luma = ycc[:, :1]
        smooth = gaussian_blur(luma, 0.5 + 0.7 * s_y)
        luma = luma + (luma_weight[0] + (luma_weight[1] - luma_weight[0]) * w) * (smooth - luma)
        strength = sharpen[0] + (sharpen[1] - sharpen[0]) * amount
        if strength > 0:
            luma = luma + strength * (luma - gaussian_blur(luma, 1.0))
        out.append(torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), torch.cat([luma, chroma], 1))[0])
    return torch.stack(out)


def phone_processing(rgb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A phone's own processing of a noisy (B, 3, H, W) sRGB image: chroma blurred (σ 1-3 px), which leaves
    blotchy low-frequency colour noise; luma partly smoothed (weight 0.2-0.8) and then sharpened (amount
    0.3-1.2), which turns the grain into spatially correlated "worms". Returns (B, 3, H, W) in [0, 1]."""
    out = luma_chroma_filter(rgb, gen, chroma_sigma=(1.0, 3.0), luma_weight=(0.2, 0.8), sharpen=(0.3, 1.2))
    return out.clamp(0, 1)


def camera_nr(noisy: torch.Tensor, clean: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A camera's own noise reduction, as in its JPEGs, on a noisy (B, 3, H, W) sRGB image whose clean
    version is ``clean``: the colour noise blurred away (chroma σ 2-5 px), the luma grain lightly smoothed
    (weight 0-0.3), nothing sharpened. It filters the noise only, as a camera's edge-aware filter would:
    blurring the picture's own colours would teach a model to sharpen them. What is left is mostly luma
    grain, the same sign in R, G and B, as in real camera JPEGs (see benchmarks/hard_photos.py: PolyU's
    noise is 0.73 correlated across channels, the raw pipeline's alone 0.31). (B, 3, H, W) in [0, 1]."""
    noise = luma_chroma_filter(noisy - clean, gen, chroma_sigma=(2.0, 5.0), luma_weight=(0.0, 0.3),
                               sharpen=(0.0, 0.0))
    return (clean + noise).clamp(0, 1)


def jpeg_random(x: torch.Tensor, gen: torch.Generator, p_twice: float = 0.25) -> torch.Tensor:
    """Each (C, H, W) image of (B, C, H, W) through JPEG 4:2:0 at a quality uniform in 60..95, a share
    ``p_twice`` of them twice (a photo saved again after editing), at another random quality."""
    out = []
    for im in x:
        im = jpeg(im, int(torch.randint(60, 96, (), generator=gen)))
        if float(torch.rand((), generator=gen)) < p_twice:
            im = jpeg(im, int(torch.randint(60, 96, (), generator=gen)))
        out.append(im)
    return torch.stack(out)


def phone(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Heavy phone and low-light camera noise on clean sRGB (B, C, H, W) in [0, 1], C = 3 or 1: raw noise
    from base ISO to a dark high-ISO shot (shot variance 1e-4 to 8e-2 of full scale; noisy PSNR about 14
    to 40 dB) with row noise (:func:`capture`), then :func:`phone_processing`, then JPEG for 80 % of the
    images (a quarter of those twice)."""
    b = x.shape[0]
    cam = CameraParams.draw(b, gen, shot_range=(1e-4, 8e-2))
    out = phone_processing(capture(_as_rgb(x), cam, gen, row_noise=0.6), gen)
    use_jpeg = torch.rand(b, generator=gen) < 0.8
    if use_jpeg.any():
        out[use_jpeg] = jpeg_random(out[use_jpeg], gen)
    return _as_input(out, x)
