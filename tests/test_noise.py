"""denoise.noise: the camera-noise corruption (unprocess, raw noise, process)."""

import torch

from denoise import noise


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_camera_noise_keeps_shape_and_range_for_colour_and_gray():
    for c in (1, 3):
        x = torch.rand(4, c, 33, 30, generator=_gen(1))
        y = noise.camera(x, _gen())
        assert y.shape == x.shape and y.dtype == x.dtype
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        assert float((y - x).abs().mean()) > 1e-4  # it did add noise


def test_unprocess_then_process_without_noise_is_the_identity():
    x = torch.rand(8, 3, 32, 32, generator=_gen(2))
    cam = noise.CameraParams.draw(8, _gen(3))
    back = noise.process(noise.unprocess(x, cam), cam)
    assert float((back - x).abs().max()) < 1e-4
    assert torch.allclose(noise.tone_curve(noise.tone_curve_inverse(x)), x, atol=1e-5)


def test_camera_noise_variance_grows_with_brightness():
    """Shot noise: in linear raw the variance is shot * x + read, so brighter raw values are noisier. Checked
    in raw, where the relation is exact: the demosaiced noise of a flat patch against its level."""
    cam = noise.CameraParams.draw(1, _gen(4))
    cam.shot, cam.read = torch.tensor([1e-2]), torch.tensor([1e-6])
    levels = [0.05, 0.2, 0.8]
    spreads = []
    for level in levels:
        flat = torch.full((1, 3, 64, 64), level)
        raw = noise.unprocess(flat, cam)
        masks = noise.bayer_masks(1, 64, 64, cam.phase)
        site = (raw * masks).sum(1, keepdim=True)
        z = torch.randn((1, 1, 64, 64), generator=_gen(5))
        spreads.append(float(((cam.shot * site + cam.read).sqrt() * z).std()))
    assert spreads[0] < spreads[1] < spreads[2]
    # and through the whole pipeline: a bright flat patch has more absolute noise in linear light
    outs = [noise.camera(torch.full((1, 3, 64, 64), v), _gen(6), p_jpeg=0.0, params=cam) for v in (0.2, 0.8)]
    lin = [noise.gamma_expand(noise.tone_curve_inverse(o)).std() for o in outs]
    assert lin[0] < lin[1]


def test_camera_noise_is_seeded():
    x = torch.rand(4, 3, 40, 40, generator=_gen(7))
    a, b, c = noise.camera(x, _gen(8)), noise.camera(x, _gen(8)), noise.camera(x, _gen(9))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_camera_noise_is_spatially_and_colour_correlated():
    """Demosaicing spreads each site's noise to its neighbours and the colour matrix mixes channels:
    unlike white Gaussian noise, neighbouring pixels and the channels of one pixel are correlated."""
    x = torch.full((16, 3, 64, 64), 0.5)
    n = noise.camera(x, _gen(10), p_jpeg=0.0) - x
    right = torch.corrcoef(torch.stack([n[..., :, :-1].flatten(), n[..., :, 1:].flatten()]))[0, 1]
    channels = torch.corrcoef(torch.stack([n[:, 0].flatten(), n[:, 2].flatten()]))[0, 1]
    assert right > 0.2 and abs(channels) > 0.05
