"""The causal speech network (crn): causality, block-by-block streaming, level independence, its contract."""

import pytest
import torch

from denoise.config import ModelConfig, STFTConfig
from denoise.models import build_model, build_net
from tests.conftest import speechlike

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
