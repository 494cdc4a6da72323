"""ONNX export: onnxruntime agrees with PyTorch, and the numpy reference example reproduces the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import REPO, random_taps, run, smooth_image, speechlike, write_image

ort = pytest.importorskip("onnxruntime")
EXAMPLE = REPO / "examples" / "onnx_inference.py"


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", ["image-gray", "image-photo", "image-photo-naf"])
def test_image_graph_matches_pytorch_on_any_size(tmp_path, name):
    from denoise.checkpoint import load
    from denoise.export import export_onnx, onnx_metadata

    model = load(name, "image").eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    session = _session(path)
    for shape in [(1, model.config.channels, 64, 64), (2, model.config.channels, 37, 90)]:
        x = torch.rand(*shape)
        with torch.inference_mode():
            expected = model(x).numpy()
        got = session.run(None, {"noisy": x.numpy()})[0]
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4
    meta = onnx_metadata(path)
    assert meta["domain"] == "image" and len(meta["checkpoint_sha256"]) == 64


@pytest.mark.parametrize("which", ["audio-speech", "audio-speech-fullband", "causal_audio_ckpt"])
def test_audio_graph_matches_the_network_and_says_its_recipe(tmp_path, request, which):
    """The full-band model's band pooling and low cut are inside the graph: features and mask stay one per bin."""
    from denoise import dsp
    from denoise.checkpoint import load
    from denoise.export import export_onnx, onnx_metadata

    model = load(which if which.startswith("audio-speech") else request.getfixturevalue(which), "audio").eval()
    path = export_onnx(model, tmp_path / "s.onnx")
    rate = model.sample_rate
    for seconds in (3.0, 0.7, 11.0):  # the time axis is dynamic
        n = int(seconds * rate)
        wave = torch.from_numpy(speechlike(seconds, rate))[None] + 0.01 * torch.randn(1, n)
        spec = dsp.stft(wave, model.stft_cfg)
        feats = model.features(wave, spec)
        with torch.inference_mode():
            expected = model.mask(model.net(feats)).numpy()
        got = _session(path).run(None, {"features": feats.numpy()})[0]
        assert np.abs(got - expected).max() <= 1e-4
    meta = onnx_metadata(path)
    assert meta["sample_rate"] == str(rate) and "n_fft" in meta["stft"] and "ISTFT" in meta["recipe"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_numpy_example_reproduces_denoise_image(tmp_path, color_ckpt):
    from PIL import Image

    rng = np.random.default_rng(0)
    noisy = np.clip(smooth_image(150, 200, 3) + rng.normal(0, 0.1, (150, 200, 3)), 0, 1)
    src = write_image(tmp_path / "noisy.png", (noisy * 255).astype(np.uint8))
    assert run("export", color_ckpt, "-o", tmp_path / "m.onnx").exit_code == 0
    assert run("image", src, "-o", tmp_path / "cli.png", "--model", color_ckpt).exit_code == 0
    subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "m.onnx"), str(src), str(tmp_path / "ex.png")],
                   check=True, timeout=120)
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("ex.png", "cli.png"))
    assert _psnr(a, b) >= 50


def _example_against_cli(tmp_path: Path, onnx: Path, model: str | Path, seconds: float) -> float:
    """SI-SDR (dB) of examples/onnx_inference.py's output for ``onnx`` against denoise audio's with ``model``,
    on ``seconds`` of speech-like sound in white noise at 16 kHz."""
    from denoise.metrics import si_sdr

    n = int(seconds * 16000)
    src = tmp_path / "noisy.wav"
    sf.write(src, speechlike(seconds, 16000) + 0.02 * np.random.default_rng(0).standard_normal(n), 16000,
             subtype="FLOAT")
    assert run("audio", src, "-o", tmp_path / "cli.wav", "--model", model).exit_code == 0
    subprocess.run([sys.executable, str(EXAMPLE), str(onnx), str(src), str(tmp_path / "ex.wav")], check=True,
                   timeout=120)
    return si_sdr(sf.read(tmp_path / "ex.wav")[0], sf.read(tmp_path / "cli.wav")[0])


def test_numpy_example_reproduces_denoise_audio(tmp_path):
    assert run("export", "audio-speech", "-o", tmp_path / "s.onnx").exit_code == 0
    assert _example_against_cli(tmp_path, tmp_path / "s.onnx", "audio-speech", 4.0) >= 40


def test_a_deep_filtering_model_exports_its_taps_and_the_example_applies_them(tmp_path):
    """A crn with deep filtering and a low cut: the graph's taps are the network's (low cut applied), and
    the numpy example, following the recipe, gives what denoise audio gives."""
    from denoise.checkpoint import save_checkpoint
    from denoise.config import ModelConfig, STFTConfig
    from denoise.export import export_onnx, onnx_metadata
    from denoise.models import build_model

    cfg = ModelConfig(arch="crn", domain="audio", channels=1, output="mask", sample_rate=16000, stft=STFTConfig(),
                      low_cut_hz=80.0, args={"width": 8, "depth": 3, "hidden": 16, "df_order": 3, "df_bins": 40})
    torch.manual_seed(0)
    model = random_taps(build_model(cfg).eval())
    ckpt = tmp_path / "df.pt"
    save_checkpoint(ckpt, model, {"model": cfg.to_dict(), "domain": "audio"})
    assert run("export", ckpt, "-o", tmp_path / "df.onnx").exit_code == 0
    assert onnx_metadata(tmp_path / "df.onnx")["df_order"] == "3"
    feats = torch.randn(1, 1, 257, 30) * 0.3 - 1.0
    with torch.inference_mode():
        out = model.net(feats)
    mask, taps = _session(tmp_path / "df.onnx").run(None, {"features": feats.numpy()})
    assert np.abs(mask - model.mask(out).numpy()).max() <= 1e-4
    assert np.abs(taps - (out[:, 1:, :40] * model.low_cut[:40]).numpy()).max() <= 1e-4
    assert np.abs(taps).max() > 0.05
    assert _example_against_cli(tmp_path, tmp_path / "df.onnx", ckpt, 3.0) >= 40


def test_export_refuses_what_it_should(tmp_path, gray_ckpt, monkeypatch):
    (tmp_path / "m.onnx").write_bytes(b"mine")
    r = run("export", gray_ckpt, "-o", tmp_path / "m.onnx")
    assert r.exit_code == 2 and "exists" in r.output and (tmp_path / "m.onnx").read_bytes() == b"mine"
    assert run("export", gray_ckpt, "-o", tmp_path / "m.pt").exit_code == 2
    assert run("export", "no-such-model", "-o", tmp_path / "x.onnx").exit_code == 2
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    r = run("export", gray_ckpt, "-o", tmp_path / "y.onnx")
    assert r.exit_code == 2 and "pip install onnx onnxruntime" in r.output and "Traceback" not in r.output
    assert "denoise[" not in r.output  # the PyPI project called denoise is another one
    assert not (tmp_path / "y.onnx").exists()


def test_export_onto_a_directory_is_one_line_before_any_work(tmp_path, gray_ckpt):
    (tmp_path / "d.onnx").mkdir()
    r = run("export", str(gray_ckpt), "-o", str(tmp_path / "d.onnx"), "--overwrite")
    assert r.exit_code == 2 and "d.onnx is a directory" in r.output and "Traceback" not in r.output


def test_exported_graphs_take_pictures_and_spectrograms_of_any_size(tmp_path):
    """Sides under 5 pixels and 1-2 frames, which the traced reflect padding refused in onnxruntime."""
    from denoise.checkpoint import load
    from denoise.export import export_onnx, onnx_metadata

    image = load("image-gray", "image").eval()
    session = _session(export_onnx(image, tmp_path / "i.onnx"))
    for h, w in [(1, 1), (2, 3), (4, 4), (1, 40), (5, 9)]:
        x = torch.rand(1, 1, h, w)
        with torch.inference_mode():
            expected = image(x).numpy()
        assert np.abs(session.run(None, {"noisy": x.numpy()})[0] - expected).max() <= 1e-4, (h, w)
    audio = load("audio-speech-unet", "audio").eval()
    path = export_onnx(audio, tmp_path / "a.onnx")
    session = _session(path)
    for frames in (1, 2, 3):
        feats = torch.randn(1, 1, audio.stft_cfg.n_fft // 2 + 1, frames) * 0.3 - 1.0
        with torch.inference_mode():
            expected = torch.sigmoid(audio.net(feats)).numpy()
        assert np.abs(session.run(None, {"features": feats.numpy()})[0] - expected).max() <= 1e-4, frames
    assert onnx_metadata(path)["min_size"].startswith("1 ")
    assert "from 1 pixel" in run("export", "--help").output
