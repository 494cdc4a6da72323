"""naf: the light image autoencoder (NAFNet-style blocks at half resolution)."""

import pytest
import torch

from denoise.config import ModelConfig
from denoise.models import build_model, build_net, domains


@pytest.mark.parametrize("size", [(1, 1), (13, 29), (40, 64)])
def test_any_size_in_same_size_out(size):
    net = build_net("naf", in_channels=3, out_channels=3, width=8, depth=2, latent_blocks=1).eval()
    x = torch.rand(2, 3, *size)
    assert net(x).shape == x.shape


def test_it_is_an_image_model_that_predicts_the_noise():
    assert domains("naf") == ("image",)
    model = build_model(ModelConfig(domain="image", arch="naf", channels=1,
                                    args={"width": 8, "depth": 1, "latent_blocks": 1}))
    assert model.size_multiple == 4  # pixel unshuffle by 2, one level down
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_sizes_are_checked_before_building():
    with pytest.raises(ValueError, match="shuffle"):
        build_net("naf", in_channels=3, out_channels=3, shuffle=0)


def test_a_fresh_block_is_the_identity():
    """The learnt scales start at zero, so a deep stack trains from the start."""
    from denoise.models.naf import NAFBlock

    block = NAFBlock(8).eval()
    x = torch.randn(2, 8, 5, 7)
    assert torch.equal(block(x), x)
