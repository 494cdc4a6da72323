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


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_block_computes_its_written_out_formula(channels_last):
    """Inference folds the attention and the learnt scales into the output weights and adds the product
    into the input; it gives the formula's numbers (which training computes as written), each item with
    its own attention."""
    from denoise.models.naf import NAFBlock, simple_gate

    torch.manual_seed(0)
    block = NAFBlock(6)
    with torch.no_grad():
        block.beta.normal_()
        block.gamma.normal_()
    x = torch.randn(2, 6, 5, 7)
    x[1] *= 3  # another item, another attention
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = simple_gate(block.depthwise(block.expand(block.norm1(x))))
        y = y * block.attention(y.mean((2, 3), keepdim=True))
        mid = x + block.beta * block.project(y)
        expected = mid + block.gamma * block.ffn_out(simple_gate(block.ffn_in(block.norm2(mid))))
        torch.testing.assert_close(block(x), expected)
    torch.testing.assert_close(block(x), expected)  # the training path


def test_validation_under_autocast_takes_the_inference_path():
    """Validation runs without gradients under autocast (bf16 training runs, CUDA), where the 1x1
    convolutions give bfloat16 and the learnt scales keep the sums in float32."""
    torch.manual_seed(0)
    net = build_net("naf", in_channels=3, out_channels=3, width=8, depth=2, latent_blocks=1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_()
    x = torch.rand(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        trained = net(x)  # gradients on: the written-out path
        with torch.no_grad():
            validated = net(x)
    torch.testing.assert_close(validated.float(), trained.float(), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_is_a_1x1_convolution(channels_last):
    """Same weights, same state-dict keys, same outputs and gradients as nn.Conv2d(c_in, c_out, 1), whatever
    the memory layout of the input (training feeds plain tensors, inference channels-last ones)."""
    from denoise.models.naf import Pointwise

    conv = torch.nn.Conv2d(6, 10, 1)
    pointwise = Pointwise(6, 10)
    pointwise.load_state_dict(conv.state_dict(), strict=True)
    x = torch.randn(2, 6, 7, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = conv(xa), pointwise(xb)
    torch.testing.assert_close(yb, ya)
    ya.square().sum().backward()
    yb.square().sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad)
    torch.testing.assert_close(pointwise.weight.grad, conv.weight.grad)


def test_channel_norm_normalises_each_pixel_over_its_channels():
    from denoise.models.naf import ChannelNorm

    norm = ChannelNorm(5)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 6.0).view(1, 5, 1, 1))
        norm.bias.fill_(0.5)
    x = torch.randn(3, 5, 4, 6) * 3 + 2
    mu = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    expected = (x - mu) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    torch.testing.assert_close(norm(x), expected)
