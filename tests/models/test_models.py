import pytest
import torch

from denoise import dsp
from denoise.training import noise
from denoise.config import ConfigError, CorruptionConfig, ModelConfig, STFTConfig, TrainConfig
from denoise.models import available, build_model, build_net


@pytest.mark.parametrize("h,w", [(1, 1), (3, 1000), (17, 33), (64, 64)])
def test_unet_keeps_any_shape(h, w):
    net = build_net("dae", in_channels=3, out_channels=3, width=4, depth=2)
    assert net(torch.rand(2, 3, h, w)).shape == (2, 3, h, w)


def test_registry_rejects_unknown_names_and_arguments():
    assert "dae" in available()
    with pytest.raises(ValueError, match="unknown architecture"):
        build_net("nope")
    with pytest.raises(ValueError, match=r"has no argument 'colour'; its arguments are width \(default 32\), depth"):
        build_net("dae", colour="blue")


@pytest.mark.parametrize("arch", ["ae", "dae", "sparse", "vae"])
@pytest.mark.parametrize("args,message", [
    ({"width": -3}, "width must be a whole number >= 1, got -3"),
    ({"width": 0}, "width must be a whole number >= 1, got 0"),  # would build an empty net that does nothing
    ({"width": 32.5}, "width must be a whole number"),
    ({"width": "32"}, "width must be a whole number"),
    ({"depth": -1}, "depth must be a whole number >= 0"),
    ({"blocks": -1}, "blocks must be a whole number >= 0"),
    ({"width": 20000}, "parameters, more than the 1,000,000,000 allowed"),  # killed by the OS if built
    ({"depth": 9}, "depth must be at most 8"),  # 14e9 parameters
    ({"depth": 40}, "depth must be at most 8"),
])
def test_registry_refuses_bad_sizes_with_a_message_and_without_allocating(arch, args, message):
    with pytest.raises(ValueError, match=message):
        build_net(arch, in_channels=1, out_channels=1, **args)


def test_registry_checks_family_specific_arguments():
    with pytest.raises(ValueError, match="k must be a whole number >= 1"):
        build_net("sparse", k=0)
    with pytest.raises(ValueError, match="k must be in 1..latent_channels"):
        build_net("sparse", latent_channels=4, k=5)
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        build_net("vae", beta=float("nan"))
    assert sum(p.numel() for p in build_net("dae", depth=0, blocks=0).parameters()) > 0  # the edge still builds


def test_stft_round_trip_is_exact_and_unshifted():
    cfg = STFTConfig()
    x = torch.randn(3, 16000 + 77)
    y = dsp.istft(dsp.stft(x, cfg), cfg, x.shape[-1])
    assert torch.allclose(x, y, atol=1e-5)


def test_audio_model_output_scales_with_input_level():
    cfg = ModelConfig(arch="dae", domain="audio", args={"width": 4}, output="mask", sample_rate=16000, stft=STFTConfig())
    m = build_model(cfg).eval()
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        loud, quiet = m(x), m(x * 10 ** (-50 / 20))
    assert torch.allclose(loud * 10 ** (-50 / 20), quiet, rtol=1e-3, atol=1e-7)


def test_corruptions_are_seeded_and_change_the_input():
    x = torch.rand(8, 1, 16, 16)
    a = noise.ImageCorruption(CorruptionConfig())(x, torch.Generator().manual_seed(3))
    b = noise.ImageCorruption(CorruptionConfig())(x, torch.Generator().manual_seed(3))
    c = noise.ImageCorruption(CorruptionConfig())(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().mean() > 0


def test_mix_at_snr_hits_the_requested_snr():
    g = torch.Generator().manual_seed(0)
    clean, nz = torch.randn(4, 16000, generator=g), torch.randn(4, 16000, generator=g) * 3
    snr = torch.tensor([-5.0, 0.0, 5.0, 20.0])
    mix = noise.mix_at_snr(clean, nz, snr)
    measured = 10 * torch.log10(clean.pow(2).mean(-1) / (mix - clean).pow(2).mean(-1))
    assert torch.allclose(measured, snr, atol=1e-3)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_colored_noise_slope(exponent):
    n = noise.colored_noise((1, 2**15), torch.tensor([exponent]), torch.Generator().manual_seed(0))[0]
    p = torch.fft.rfft(n).abs().pow(2)
    low, high = p[100:200].mean(), p[1000:2000].mean()
    slope = torch.log10(low / high) / torch.log10(torch.tensor(10.0))  # decades of power per decade of f
    assert abs(slope.item() - exponent) < 0.3


def test_audio_corruption_never_clips_and_keeps_pairs_aligned():
    clean = torch.randn(4, 8000) * 0.3
    noisy, target = noise.AudioCorruption(CorruptionConfig(), 16000)(clean, None, torch.Generator().manual_seed(0))
    assert noisy.abs().max() <= 1.0
    ratio = target / clean
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4)  # one gain per example


def test_configs_round_trip_and_reject_unknown_keys():
    cfg = TrainConfig(domain="audio", data=["x"], out="o")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({**cfg.to_dict(), "colour": 1})
    with pytest.raises(ConfigError):
        ModelConfig(domain="video")


def test_deepen_keeps_the_function_and_trains_the_new_level():
    from denoise.models.unet import deepen

    torch.manual_seed(0)
    args = {"width": 4, "depth": 2, "blocks": 1}
    net = build_net("dae", in_channels=3, out_channels=3, **args)
    for p in net.parameters():  # a "trained" net: weights far from their initial scale
        p.data.add_(0.2 * torch.randn_like(p))
    deeper, new_args = deepen(net, args)
    assert new_args == {"width": 4, "depth": 3, "blocks": 1}
    build_net("dae", in_channels=3, out_channels=3, **new_args).load_state_dict(deeper.state_dict(), strict=True)
    x = torch.rand(2, 3, 40, 24)
    with torch.no_grad():
        ref, out = net(x), deeper(x)
        fresh = build_net("dae", in_channels=3, out_channels=3, **new_args)(x)
    assert (out - ref).abs().max() < 1e-3 * ref.abs().max()
    assert (fresh - ref).abs().max() > 0.1 * ref.abs().max()  # the check above can tell models apart
    deeper(x).square().mean().backward()
    assert deeper.up[0].conv.weight.grad.abs().sum() > 0  # the zero-started conv is not stuck at zero
    with pytest.raises(ValueError, match="blocks == 1"):
        deepen(build_net("dae", width=4, depth=2, blocks=2), {"width": 4, "depth": 2, "blocks": 2})


def test_a_config_written_by_an_earlier_version_still_loads():
    """Runs and checkpoints saved ``p_gaussian_only`` (never read, now gone): they still resume and load."""
    from denoise.config import CorruptionConfig

    old = {**CorruptionConfig().to_dict(), "p_gaussian_only": 0.7}
    assert CorruptionConfig.from_dict(old) == CorruptionConfig()
    with pytest.raises(ConfigError, match="unknown key"):
        CorruptionConfig.from_dict({**old, "p_typo": 1.0})


def test_every_built_model_keeps_the_written_contract():
    from denoise.models import Denoiser

    image = build_model(ModelConfig(arch="dae", domain="image", channels=3, args={"width": 4, "depth": 3}))
    audio = build_model(ModelConfig(arch="dae", domain="audio", args={"width": 4}, output="mask", sample_rate=16000,
                                    stft=STFTConfig()))
    assert isinstance(image, Denoiser) and isinstance(audio, Denoiser)
    assert (image.domain, image.size_multiple, image.sample_rate) == ("image", 8, None)
    assert (audio.domain, audio.sample_rate) == ("audio", 16000)
    assert image(torch.rand(1, 3, 13, 21)).shape == (1, 3, 13, 21)
