"""The autoencoder family (ae, dae, sparse, vae): the bottleneck each one promises, and end-to-end use."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from denoise.config import ModelConfig, STFTConfig
from denoise.models import available, build_model, build_net
from denoise.models.autoencoders import ConvVAE, KSparseAutoencoder
from tests.conftest import run, smooth_image, speechlike

ARCHS = ["ae", "dae", "sparse", "vae"]


def test_registry_lists_the_family():
    assert set(ARCHS) <= set(available())


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [(1, 1), (13, 29), (64, 40)])
def test_any_size_in_same_size_out(arch, size):
    net = build_net(arch, in_channels=3, out_channels=3, width=4, depth=2).eval()
    x = torch.rand(2, 3, *size)
    assert net(x).shape == x.shape


def test_ae_latent_is_the_only_path():
    """No skips: a latent of zeros gives the same output whatever the input."""
    net = build_net("ae", width=4, depth=2, latent_channels=3).eval()
    with torch.no_grad():
        net.to_latent.weight.zero_()
        net.to_latent.bias.zero_()
        a, b = net(torch.rand(1, 1, 16, 16)), net(torch.rand(1, 1, 16, 16))
    assert torch.equal(a, b)
    assert net.to_latent.out_channels == 3


def test_k_sparse_keeps_exactly_k_per_position():
    net = KSparseAutoencoder(width=4, depth=2, latent_channels=10, k=3)
    h = torch.randn(2, 10, 5, 7)
    z = net.latent(h)
    assert torch.equal((z != 0).sum(1), torch.full((2, 5, 7), 3))
    top = h.topk(3, dim=1).indices  # the kept ones are the 3 largest, unchanged
    assert torch.equal(z.gather(1, top), h.gather(1, top))
    with pytest.raises(ValueError):
        build_net("sparse", latent_channels=4, k=5)


def test_vae_reparameterises_in_training_and_uses_the_mean_at_inference():
    torch.manual_seed(0)
    net = ConvVAE(width=4, depth=2, latent_channels=4, beta=0.5)
    x = torch.rand(2, 1, 16, 16)
    net.train()
    a, b = net(x), net(x)
    assert not torch.equal(a, b)  # sampled latents
    kl = net.aux_loss()
    assert kl.item() > 0 and kl.requires_grad
    net.eval()
    assert torch.equal(net(x), net(x))
    with pytest.raises(RuntimeError):
        net.aux_loss()
    # KL is zero exactly when the posterior is N(0, I): mean 0 and log-variance 0 everywhere
    with torch.no_grad():
        net.to_latent.weight.zero_()
        net.to_latent.bias.zero_()
    net.train()
    net(x)
    assert net.aux_loss().item() == pytest.approx(0.0, abs=1e-7)


def test_vae_kl_matches_the_closed_form():
    net = ConvVAE(width=4, depth=1, latent_channels=1, beta=1.0).train()
    h = torch.tensor([1.0, 0.5]).view(1, 2, 1, 1)  # mean 1, logvar 0.5
    net._values_per_item = 4
    net.latent(h)
    expected = 0.5 * (1.0 + np.exp(0.5) - 1.0 - 0.5) / 4
    assert net.aux_loss().item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("arch", ["ae", "sparse", "vae"])
def test_audio_wrappers_accept_every_arch(arch):
    cfg = ModelConfig(arch=arch, domain="audio", args={"width": 4, "depth": 2}, output="mask",
                      sample_rate=16000, stft=STFTConfig())
    model = build_model(cfg).eval()
    wave = torch.randn(2, 5000)
    assert model(wave).shape == wave.shape


@pytest.fixture(scope="module")
def family_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    for i in range(3):
        Image.fromarray((smooth_image(40, 40, 1, seed=i)[:, :, 0] * 255).astype(np.uint8)).save(root / f"{i}.png")
    (root / "speech").mkdir()
    for i in range(2):
        sf.write(root / "speech" / f"{i}.wav", speechlike(1.5, 16000, i), 16000)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_train_image_eval_audio_for_every_arch(tmp_path, family_data, arch):
    """Each architecture trains in both domains, saves a checkpoint, and that checkpoint works with
    `denoise image`, `denoise audio`, `denoise eval` and `denoise score`."""
    for domain, data, patch in (("image", family_data, "32"), ("audio", family_data / "speech", "8000")):
        out = tmp_path / domain
        r = run("train", "--domain", domain, "--data", data, "--out", out, "--arch", arch, "--arch-args",
                '{"width": 4}', "--steps", "3", "--eval-every", "3", "--batch-size", "2", "--patch-size", patch,
                "--workers", "0", "-q")
        assert r.exit_code == 0, r.output
        meta = torch.load(out / "best.pt", weights_only=True)
        assert json.loads(meta["meta"])["model"]["arch"] == arch
    ckpt_i, ckpt_a = tmp_path / "image" / "best.pt", tmp_path / "audio" / "best.pt"
    assert run("image", family_data / "0.png", "-o", tmp_path / "o.png", "--model", ckpt_i).exit_code == 0
    assert run("audio", family_data / "speech" / "0.wav", "-o", tmp_path / "o.wav", "--model", ckpt_a).exit_code == 0
    r = run("eval", "--domain", "image", "--data", family_data, "--sigma", "25", "--model", ckpt_i, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["rows"][0]["sigma"] == 25.0
    r = run("eval", "--domain", "audio", "--speech", family_data / "speech", "--noise", family_data / "speech",
            "--snr", "5", "--model", ckpt_a, "--json")
    assert r.exit_code == 0, r.output
    r = run("score", family_data / "speech", "--model", ckpt_a, "--json")
    assert r.exit_code == 0 and len(json.loads(r.output)) == 2
