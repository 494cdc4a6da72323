"""denoise.training.noise: the camera-noise corruption (unprocess, raw noise, process)."""

import torch

from denoise.training import noise
from denoise.training import photo_noise


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_camera_noise_keeps_shape_and_range_for_colour_and_gray():
    for c in (1, 3):
        x = torch.rand(4, c, 33, 30, generator=_gen(1))
        y = photo_noise.camera(x, _gen())
        assert y.shape == x.shape and y.dtype == x.dtype
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        assert float((y - x).abs().mean()) > 1e-4  # it did add noise


def test_unprocess_then_process_without_noise_is_the_identity():
    x = torch.rand(8, 3, 32, 32, generator=_gen(2))
    cam = photo_noise.CameraParams.draw(8, _gen(3))
    back = photo_noise.process(photo_noise.unprocess(x, cam), cam)
    assert float((back - x).abs().max()) < 1e-4
    assert torch.allclose(photo_noise.tone_curve(photo_noise.tone_curve_inverse(x)), x, atol=1e-5)


def test_camera_noise_variance_grows_with_brightness():
    """Shot noise: in linear raw the variance is shot * x + read, so brighter raw values are noisier. Checked
    in raw, where the relation is exact: the demosaiced noise of a flat patch against its level."""
    cam = photo_noise.CameraParams.draw(1, _gen(4))
    cam.shot, cam.read = torch.tensor([1e-2]), torch.tensor([1e-6])
    levels = [0.05, 0.2, 0.8]
    spreads = []
    for level in levels:
        flat = torch.full((1, 3, 64, 64), level)
        raw = photo_noise.unprocess(flat, cam)
        masks = photo_noise.bayer_masks(1, 64, 64, cam.phase)
        site = (raw * masks).sum(1, keepdim=True)
        z = torch.randn((1, 1, 64, 64), generator=_gen(5))
        spreads.append(float(((cam.shot * site + cam.read).sqrt() * z).std()))
    assert spreads[0] < spreads[1] < spreads[2]
    # and through the whole pipeline: a bright flat patch has more absolute noise in linear light
    outs = [photo_noise.camera(torch.full((1, 3, 64, 64), v), _gen(6), p_jpeg=0.0, params=cam) for v in (0.2, 0.8)]
    lin = [photo_noise.gamma_expand(photo_noise.tone_curve_inverse(o)).std() for o in outs]
    assert lin[0] < lin[1]


def test_camera_noise_is_seeded():
    x = torch.rand(4, 3, 40, 40, generator=_gen(7))
    a, b, c = photo_noise.camera(x, _gen(8)), photo_noise.camera(x, _gen(8)), photo_noise.camera(x, _gen(9))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_camera_noise_is_spatially_and_colour_correlated():
    """Demosaicing spreads each site's noise to its neighbours and the colour matrix mixes channels:
    unlike white Gaussian noise, neighbouring pixels and the channels of one pixel are correlated."""
    x = torch.full((16, 3, 64, 64), 0.5)
    n = photo_noise.camera(x, _gen(10), p_jpeg=0.0) - x
    right = torch.corrcoef(torch.stack([n[..., :, :-1].flatten(), n[..., :, 1:].flatten()]))[0, 1]
    channels = torch.corrcoef(torch.stack([n[:, 0].flatten(), n[:, 2].flatten()]))[0, 1]
    assert right > 0.2 and abs(channels) > 0.05


def _chroma_share(n: torch.Tensor) -> float:
    """The share of the noise's energy off the gray axis (independent noise per channel: 2/3)."""
    luma = n.mean(1, keepdim=True)
    return float(((n - luma) ** 2).mean() / (n**2).mean())


def test_the_cameras_own_noise_reduction_leaves_mostly_luma_grain_and_only_when_asked():
    """In-camera JPEGs have had their colour noise blurred away: what is left is the same in R, G and B
    (PolyU's noise: 0.73 correlated across channels). ImageCorruption draws it only with p_camera_nr."""
    from denoise.config import CorruptionConfig

    x = torch.full((16, 3, 64, 64), 0.5)
    raw = photo_noise.camera(x, _gen(21), p_jpeg=0.0) - x
    nr = photo_noise.camera(x, _gen(21), p_jpeg=0.0, p_nr=1.0) - x
    assert _chroma_share(nr) < 0.5 * _chroma_share(raw)
    assert float(nr.mean(1).std()) > 0.7 * float(raw.mean(1).std())  # the luma grain is left, not smoothed away
    edges = torch.rand(2, 3, 8, 8, generator=_gen(23)).repeat_interleave(8, 2).repeat_interleave(8, 3)
    torch.testing.assert_close(photo_noise.camera_nr(edges, edges, _gen(24)), edges)  # the picture's colours stay sharp
    off = dict(p_camera=1.0, p_poisson=0.0, p_salt_pepper=0.0, p_speckle=0.0, p_pixel_mask=0.0)
    plain = noise.ImageCorruption(CorruptionConfig(**off))(x, _gen(22)) - x
    asked = noise.ImageCorruption(CorruptionConfig(**off, p_camera_nr=1.0))(x, _gen(22)) - x
    assert _chroma_share(asked) < 0.5 * _chroma_share(plain)


def test_transients_are_unit_rms_and_come_and_go():
    g = torch.Generator().manual_seed(0)
    x = noise.transients((12, 32000), 16000, g)
    assert x.shape == (12, 32000) and torch.isfinite(x).all()
    torch.testing.assert_close(x.pow(2).mean(-1), torch.ones(12), atol=1e-4, rtol=1e-4)
    frames = x.reshape(12, -1, 320).pow(2).mean(-1)  # 20 ms energies
    spread = frames.amax(-1) / frames.median(-1).values.clamp_min(1e-12)
    assert (spread > 10).sum() >= 3, "bursts and impacts: loud frames among quiet ones"
    assert (spread < 3).sum() >= 1, "sirens: sounding throughout"


def test_random_eq_reshapes_the_spectrum_and_keeps_the_level():
    g = torch.Generator().manual_seed(0)
    white = torch.randn(16, 16000, generator=g)
    out = noise.random_eq(white, g)
    torch.testing.assert_close(out.pow(2).mean(-1), torch.ones(16), atol=1e-4, rtol=1e-4)

    def spread_db(x):  # loudest over quietest of 8 bands, per row
        bands = torch.fft.rfft(x).abs().pow(2)[:, :8000].reshape(16, 8, 1000).mean(-1)
        return 10 * torch.log10(bands.amax(-1) / bands.amin(-1))

    assert spread_db(white).median() < 1 and spread_db(out).median() > 4


def test_audio_corruption_adds_transients_and_eq_only_when_asked():
    from denoise.config import CorruptionConfig

    clean = torch.randn(4, 16000) * 0.1
    base = noise.AudioCorruption(CorruptionConfig(), 16000)
    rich = noise.AudioCorruption(CorruptionConfig(p_transient=1.0, p_eq=1.0), 16000)
    a, _ = base(clean, None, torch.Generator().manual_seed(3))
    again, _ = base(clean, None, torch.Generator().manual_seed(3))
    b, _ = rich(clean, None, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, again)
    assert not torch.allclose(a, b)


def test_phone_noise_is_heavier_than_camera_noise_and_reproducible():
    x = torch.rand(1, 3, 48, 48, generator=_gen(11)) * 0.6 + 0.2
    x = x.expand(16, 3, 48, 48).contiguous()
    mse = lambda y: float(((y - x) ** 2).mean())  # noqa: E731
    assert mse(photo_noise.phone(x, _gen(12))) > 2 * mse(photo_noise.camera(x, _gen(12)))
    assert torch.equal(photo_noise.phone(x, _gen(13)), photo_noise.phone(x, _gen(13)))
    for c in (1, 3):
        y = photo_noise.phone(x[:, :c], _gen(14))
        assert y.shape == x[:, :c].shape and 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def test_jpeg_after_gaussian_noise_leaves_mostly_luma_noise():
    """4:2:0 JPEG keeps luma at full resolution and chroma at half: the noise left is the same in R, G and
    B, which is what noisy JPEGs from phones look like (and what a model trained on colour noise misses)."""
    from denoise.config import CorruptionConfig

    x = torch.full((8, 3, 64, 64), 0.5)
    off = dict(sigma_range=(20.0, 20.0), p_poisson=0.0, p_salt_pepper=0.0, p_speckle=0.0, p_pixel_mask=0.0)
    plain = noise.ImageCorruption(CorruptionConfig(**off))(x, _gen(20)) - x
    jpegd = noise.ImageCorruption(CorruptionConfig(**off, p_jpeg=1.0))(x, _gen(20)) - x

    assert _chroma_share(plain) > 0.5  # independent noise per channel: 2/3 of it is chroma
    assert _chroma_share(jpegd) < 0.25


def test_broadband_noise_reaches_above_8_khz_where_the_16_khz_recordings_do_not():
    x = noise.broadband((20, 48000), 48000, _gen(3))
    torch.testing.assert_close(x.pow(2).mean(-1), torch.ones(20), atol=1e-4, rtol=1e-4)
    power = torch.fft.rfft(x).abs().pow(2)
    f = torch.fft.rfftfreq(48000, 1 / 48000)
    high = power[:, f > 8000].sum(-1) / power.sum(-1)
    assert (high > 0.05).sum() >= 12 and high.mean() > 0.2  # most rows, and a large share overall
    assert (high < 0.05).sum() >= 1  # rumble and buzz stay low: not every row is the same noise
    assert torch.equal(x, noise.broadband((20, 48000), 48000, _gen(3)))


def test_room_tone_silences_the_start_of_some_rows_only():
    clean = torch.ones(200, 32000)
    out = noise.room_tone(clean, 16000, 0.3, _gen(1))
    quiet = out[:, : int(0.3 * 16000)].abs().amax(-1) == 0
    assert 30 <= int(quiet.sum()) <= 90  # about 0.3 of the rows
    assert torch.equal(out[~quiet], clean[~quiet])
    assert torch.all(out[quiet][:, -15000:] == 1)  # at most half the row is silenced (then a 10 ms fade)
    starts = (out[quiet] > 0).float().argmax(-1) / 16000
    assert starts.min() >= 0.3 and starts.max() <= 1.001  # 0.3-1.5 s, capped at half of these 2 s rows


def test_pauses_silence_a_long_stretch_after_the_first_quarter_of_some_rows_only():
    clean = torch.ones(200, 8 * 16000)
    out = noise.pauses(clean, 16000, 0.4, _gen(2))
    paused = (out == 0).any(-1)
    assert 50 <= int(paused.sum()) <= 110  # about 0.4 of the rows
    assert torch.equal(out[~paused], clean[~paused])
    silent = (out[paused] == 0).sum(-1) / 16000
    assert silent.min() >= 0.8 - 0.02 and silent.max() <= 2.5  # the stretch itself, less the fades
    first = (out[paused] == 0).float().argmax(-1)
    assert first.min() >= 2 * 16000  # never in the first quarter: the room tone's place


def test_match_band_cuts_lower_rate_speech_and_a_share_of_its_noise_where_inference_cuts_it():
    sr, t = 48000, 48000
    clean_in, noise_in = torch.randn(200, t), torch.randn(200, t)
    bands = torch.tensor([8000.0, 24000.0] * 100)
    clean, out = noise.match_band(clean_in, noise_in, bands, sr, 0.7, _gen(3))
    freqs = torch.fft.rfftfreq(t, 1 / sr)
    above = lambda x: torch.fft.rfft(x, dim=-1)[:, freqs > 7500].abs().pow(2).mean(-1)  # noqa: E731
    below = lambda x: torch.fft.rfft(x, dim=-1)[:, freqs < 7400]  # noqa: E731
    assert torch.equal(out[1::2], noise_in[1::2]) and torch.equal(clean[1::2], clean_in[1::2])  # full band kept
    assert bool((above(clean[0::2]) < 1e-6).all())  # every 16 kHz recording's speech is cut at 7.5 kHz
    emptied = above(out[0::2]) < 1e-6
    assert 50 <= int(emptied.sum()) <= 90  # and about 0.7 of their noise
    assert torch.allclose(below(out[0::2]), below(noise_in[0::2]), atol=1e-2)  # the band below is untouched
    assert torch.allclose(below(clean[0::2]), below(clean_in[0::2]), atol=1e-2)


def test_speech_mixtures_cut_speech_recorded_at_16_khz_and_its_noise(tmp_path):
    import numpy as np
    import soundfile as sf
    from denoise.config import CorruptionConfig
    from denoise.training import data

    (tmp_path / "s").mkdir()
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "s" / "a16.wav", 0.1 * rng.standard_normal(32000), 16000)
    speech, bands = data.read_audio_dir([tmp_path / "s"], 48000, "speech")
    assert bands == [8000.0]
    cfg = CorruptionConfig(p_match_band=1.0, p_recorded=0.0, p_hum=0.0, p_clicks=0.0)
    noisy, clean = data.SpeechMixtures(speech, None, 48000, 4, cfg, 48000, seed=0, bands=bands).batch(0)
    high = lambda x: torch.fft.rfft(x, dim=-1)[:, torch.fft.rfftfreq(48000, 1 / 48000) > 7600]  # noqa: E731
    assert float(high(noisy).abs().max()) < 1e-3 and float(high(clean).abs().max()) < 1e-3
    noisy, clean = data.SpeechMixtures(speech, None, 48000, 4, cfg, 48000, seed=0).batch(0)  # bands unknown
    assert float(high(noisy - clean).abs().max()) > 1
    off = CorruptionConfig(p_recorded=0.0, p_hum=0.0, p_clicks=0.0)  # without p_match_band the bands change nothing
    with_bands = data.SpeechMixtures(speech, None, 48000, 4, off, 48000, seed=0, bands=bands).batch(3)
    assert torch.equal(with_bands[0], data.SpeechMixtures(speech, None, 48000, 4, off, 48000, seed=0).batch(3)[0])


def test_audio_corruption_uses_broadband_noise_and_room_tone_only_when_asked():
    from denoise.config import CorruptionConfig

    clean = torch.randn(4, 16000) * 0.1
    base = noise.AudioCorruption(CorruptionConfig(), 16000)(clean, None, _gen(5))
    again = noise.AudioCorruption(CorruptionConfig(p_broadband=0.0, p_room_tone=0.0), 16000)(clean, None, _gen(5))
    assert torch.equal(base[0], again[0])  # the earlier runs' batches are unchanged
    paused = noise.AudioCorruption(CorruptionConfig(p_pauses=1.0), 16000)(torch.randn(4, 64000), None, _gen(5))[1]
    assert bool(((paused == 0).sum(-1) >= int(0.78 * 16000)).all())
    toned = noise.AudioCorruption(CorruptionConfig(p_room_tone=1.0), 16000)(clean, None, _gen(5))[1]
    assert torch.all(toned[:, :4000] == 0)
