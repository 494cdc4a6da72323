"""The causal speech network (crn): causality, block-by-block streaming, level independence, its contract."""

import pytest
import torch

from denoise.config import ModelConfig, STFTConfig
from denoise.models import build_model, build_net
from tests.conftest import random_taps, speechlike

SMALL = {"width": 8, "depth": 3, "hidden": 16}


def small_net(**kw):
    torch.manual_seed(0)
    return build_net("crn", in_channels=1, out_channels=1, **{**SMALL, **kw}).eval()


def test_no_output_frame_depends_on_a_later_frame():
    net = small_net()
    x = torch.randn(2, 1, 257, 40)
    later = x.clone()
    later[..., 25:] += torch.randn_like(later[..., 25:])
    with torch.no_grad():
        a, b = net(x), net(later)
    assert torch.equal(a[..., :25], b[..., :25])
    assert not torch.allclose(a[..., 25:], b[..., 25:])


@pytest.mark.parametrize("block", [1, 3, 7])
def test_block_by_block_equals_the_whole_signal(block):
    net = small_net(time_kernel=4)
    x = torch.randn(1, 1, 257, 30)
    with torch.no_grad():
        whole = net(x)
        state, parts = None, []
        for a in range(0, 30, block):
            y, state = net.step(x[..., a : a + block], state)
            parts.append(y)
    torch.testing.assert_close(torch.cat(parts, dim=-1), whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_a_long_signal_run_in_blocks_gives_the_whole_signals_logits(batch):
    """Out of training, forward runs long inputs block by block with the state carried (faster on a CPU):
    the logits must be those of one pass over the whole signal, however the blocks fall."""
    from denoise.models.crn import FRAME_ITEMS_PER_BLOCK
    net = small_net(time_kernel=4)
    frames = 2 * FRAME_ITEMS_PER_BLOCK + 37  # several blocks for every batch size, the last one short
    x = torch.randn(batch, 1, 257, frames)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net.step(x, None)[0], atol=1e-5, rtol=1e-5)


def test_training_runs_the_whole_signal_in_one_call():
    """Batch norm in training uses the statistics of the call, so blocks would change what is learnt."""
    net = small_net().train()
    x = torch.randn(2, 1, 257, 600)
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(1)
    b = net.step(x, None)[0]
    assert torch.equal(a, b)


def test_a_level_change_does_not_change_the_mask():
    """Level changes add a constant to every log-power feature; the causal normalisation removes it."""
    net = small_net()
    x = torch.randn(1, 1, 257, 50)
    with torch.no_grad():
        torch.testing.assert_close(net(x + 0.7), net(x), atol=1e-5, rtol=1e-5)


def test_as_an_audio_model_output_scales_with_input():
    cfg = ModelConfig(arch="crn", domain="audio", args=SMALL, output="mask", sample_rate=16000, stft=STFTConfig())
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    wave = torch.from_numpy(speechlike(1.0, 16000))[None]
    with torch.no_grad():
        loud, quiet = model(wave * 0.3), model(wave * 0.003)
    torch.testing.assert_close(quiet * 100, loud, atol=1e-5, rtol=1e-3)


def test_refuses_images_and_other_stft_sizes():
    with pytest.raises(ValueError, match="for audio only"):
        build_model(ModelConfig(arch="crn", domain="image", channels=1, args=SMALL, output="direct"))
    with pytest.raises(ValueError, match="bins=200"):
        build_net("crn", bins=200, depth=3)
    with pytest.raises(ValueError, match="257 frequency bins, got 129"):
        small_net()(torch.randn(1, 1, 129, 5))


# ------------------------------------------------------------------------------------------- full band
FULL = {"bins": 769, "low_bins": 257, "high_bands": 16}


def test_full_band_streams_block_by_block_like_the_whole_signal_and_ignores_level():
    net = small_net(**FULL)
    x = torch.randn(1, 1, 769, 24)
    with torch.no_grad():
        whole = net(x)
        state, parts = None, []
        for a in range(0, 24, 5):
            y, state = net.step(x[..., a : a + 5], state)
            parts.append(y)
        torch.testing.assert_close(torch.cat(parts, dim=-1), whole, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net(x + 0.7), whole, atol=1e-4, rtol=1e-4)  # pooled in power, not in log
    assert whole.shape == x.shape


def test_each_high_band_gets_one_gain_and_bins_between_band_centres_are_interpolated():
    """Within a band, the logits above 8 kHz move together: a single bin's input can change the
    whole band's gain, but never one bin alone, and the gain curve is piecewise linear in the bins."""
    from denoise.models.crn import band_edges

    net = small_net(**FULL)
    x = torch.randn(1, 1, 769, 6)
    with torch.no_grad():
        y = net(x)[0, 0, 257:, -1]
    curve = y.numpy()
    second = curve[2:] - 2 * curve[1:-1] + curve[:-2]
    assert (abs(second) > 1e-4).sum() <= 2 * 16  # kinks only at the 16 band centres
    edges = band_edges(257, 769, 16)
    widths = [b - a for a, b in zip(edges, edges[1:])]
    assert edges[0] == 257 and edges[-1] == 769 and widths == sorted(widths)  # wider with frequency


def test_the_spectrum_decides_the_arguments_and_16_khz_runs_keep_theirs():
    from denoise.config import TrainConfig
    from denoise.training.runs import model_config_for, resolve_init

    wide = TrainConfig(domain="audio", data=["d"], out="o", arch="crn", sample_rate=48000)
    assert (wide.stft.n_fft, wide.stft.hop_length) == (1536, 384)  # the 16 kHz window and hop, in time
    cfg = model_config_for(resolve_init(wide)[0], 1)
    assert {k: cfg.args[k] for k in FULL} == FULL
    model = build_model(cfg)
    assert model.sample_rate == 48000 and model.net.bins == 769
    narrow = model_config_for(resolve_init(TrainConfig(domain="audio", data=["d"], out="o", arch="crn"))[0], 1)
    assert set(narrow.args) == {"width", "depth", "hidden", "time_kernel"}  # what the shipped 16 kHz model has


def test_a_widened_speech_model_denoises_16_khz_content_at_48_khz_as_before():
    """The widened network starts from the 16 kHz model's function: on 16 kHz content resampled to 48 kHz
    (its high band empty) it does about what the 16 kHz model does at 16 kHz."""
    import dataclasses

    import numpy as np

    from denoise import checkpoint
    from denoise.dsp import resample
    from denoise.models.crn import widen

    narrow = checkpoint.load("audio-speech").eval()
    stft = STFTConfig.for_rate(48000)
    net, args = widen(narrow.net, narrow.config.args, 48000, stft.n_fft)
    cfg = dataclasses.replace(narrow.config, args=args, sample_rate=48000, stft=stft)
    wide = type(narrow)(net, cfg).eval()
    clean = speechlike(3.0, 16000)
    noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(clean.size).astype(np.float32)
    with torch.no_grad():
        a = narrow(torch.from_numpy(noisy)[None])[0].numpy()
        b = wide(torch.from_numpy(resample(noisy, 16000, 48000))[None])[0].numpy()
    b = resample(b, 48000, 16000)[: a.size]
    agree = 10 * np.log10(np.sum(a**2) / np.sum((a - b) ** 2))
    assert agree > 12, agree
    with pytest.raises(ValueError, match="full band already"):
        widen(net, args, 48000, stft.n_fft)


def test_a_low_cut_removes_rumble_below_the_voice_and_keeps_the_voice():
    import dataclasses

    import numpy as np

    cfg = ModelConfig(arch="crn", domain="audio", args=SMALL, output="mask", sample_rate=16000, stft=STFTConfig())
    torch.manual_seed(0)
    plain = build_model(cfg).eval()
    cut = type(plain)(plain.net, dataclasses.replace(cfg, low_cut_hz=80.0)).eval()
    t = np.arange(32000) / 16000
    wave = torch.from_numpy((np.sin(2 * np.pi * 25 * t) + 0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))[None]
    with torch.no_grad():
        a, b = (m(wave)[0].numpy() for m in (plain, cut))
    level = lambda y, f: abs(np.fft.rfft(y[4000:-4000])[int(f * 24000 / 16000)])  # noqa: E731
    assert level(b, 25) < 0.1 * level(a, 25)  # the rumble 20 dB down at least (the window leaks it upwards)
    assert abs(level(b, 200) / level(a, 200) - 1) < 0.02  # the voice's band is untouched


# ------------------------------------------------------------------------------------------- deep filtering
DF = {"df_order": 3, "df_bins": 40}


def audio_model(**args):
    cfg = ModelConfig(arch="crn", domain="audio", args={**SMALL, **args}, output="mask", sample_rate=16000,
                      stft=STFTConfig())
    torch.manual_seed(0)
    return build_model(cfg).eval()


def test_a_crn_grown_by_deep_filtering_starts_as_the_crn_it_grew_from():
    plain, grown = audio_model(), audio_model(**DF)
    missing = grown.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["net.df.bias", "net.df.weight"]
    wave = torch.from_numpy(speechlike(1.0, 16000))[None] + 0.02 * torch.randn(1, 16000)
    with torch.no_grad():
        assert torch.equal(grown(wave), plain(wave))


def test_tap_k_filters_the_frame_k_hops_back_in_the_first_df_bins_only():
    from denoise import dsp

    model = audio_model(**DF)
    with torch.no_grad():
        model.net.df.bias[2] = torch.atanh(torch.tensor(0.5))  # channel 3 of the output: tap 1, real part
    wave = torch.from_numpy(speechlike(1.0, 16000))[None] + 0.02 * torch.randn(1, 16000)
    spec = dsp.stft(wave, model.stft_cfg)
    with torch.no_grad():
        est = model.estimate_spectrum(wave, spec)
        masked = spec * model.mask(model.net(model.features(wave, spec))).squeeze(1)
    extra = est - masked
    torch.testing.assert_close(extra[:, :40, 1:], 0.5 * spec[:, :40, :-1])
    assert extra[:, :40, 0].abs().max() == 0 and extra[:, 40:].abs().max() == 0  # zeros before the start


@pytest.mark.parametrize("block", [1, 4, 9])
def test_deep_filtering_frame_by_frame_equals_the_whole_signal_and_scales_with_input(block):
    from denoise import dsp

    model = random_taps(audio_model(**DF))
    wave = torch.from_numpy(speechlike(0.5, 16000))[None] + 0.02 * torch.randn(1, 8000)
    spec = dsp.stft(wave, model.stft_cfg)
    level = torch.full((1, 1), 0.1)
    with torch.no_grad():
        whole = model.estimate_spectrum(wave, spec, level=level)
        state, parts = None, []
        for a in range(0, spec.shape[-1], block):
            est, state = model.estimate_frames(spec[..., a : a + block], level, state)
            parts.append(est)
        quiet = model.estimate_spectrum(wave * 0.01, spec * 0.01, level=level * 0.01)
        masked = spec * model.mask(model.net(model.features(wave, spec, level))).squeeze(1)
    torch.testing.assert_close(torch.cat(parts, dim=-1), whole, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(quiet * 100, whole, atol=1e-5, rtol=1e-3)
    assert (whole - masked)[:, :40].abs().max() > 1e-3  # the taps are in use


def test_deep_filtering_needs_taps_and_bins_that_have_gains_of_their_own():
    with pytest.raises(ValueError, match="df_order=0 and df_bins=40"):
        small_net(df_bins=40)
    with pytest.raises(ValueError, match="df_bins=300"):
        small_net(df_order=2, df_bins=300)
    with pytest.raises(ValueError, match="df_bins <= 257"):
        small_net(**FULL, df_order=2, df_bins=258)  # the band above 8 kHz has one gain per band
    assert small_net(**FULL, df_order=2, df_bins=257)(torch.randn(1, 1, 769, 5)).shape == (1, 5, 769, 5)

