"""ONNX export: run the models without PyTorch (onnxruntime in C++, C#, Java, JavaScript, mobile).

- Image models: the graph maps ``noisy`` (N, C, H, W) float32 in [0, 1] to ``denoised`` of the same shape,
  the residual subtraction included. Batch, height and width are dynamic; the network pads inside the
  graph to its size multiple (by reflection) and crops back, so any size from the size multiple up works.
- Audio models: the graph is the network on its features, ``features`` (N, 1, F, T) -> ``mask`` (N, 1, F,
  T) in [0, 1], and for a network with deep filtering also ``taps`` (N, 2K, D, T); the STFT, the level
  normalisation and the mask (and filter) application around it are written in the model's metadata
  (:data:`AUDIO_RECIPE`) and done in numpy by ``examples/onnx_inference.py``.

The model's metadata (``metadata_props``) also holds the domain, channels, sample rate, STFT settings, the
checkpoint's SHA-256 and the denoise version. Needs the ``onnx`` extra (see :mod:`denoise.extras`).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from denoise import io
from denoise.audio.chunks import HEAD_SECONDS
from denoise.extras import install_hint
from denoise.models import is_causal

log = logging.getLogger(__name__)

OPSET = 17
# What examples/onnx_inference.py does around the audio graph, step by step (stored in the metadata).
AUDIO_RECIPE = (
    "1. mono float32 audio at sample_rate (resample first); "
    "2. X = STFT(x): periodic Hann window of win_length, n_fft, hop_length, frames centred (x padded by "
    "n_fft//2 on both sides, reflect), X of shape (F = n_fft//2 + 1, T = 1 + len(x)//hop_length); "
    "3. level: r = max(sqrt(mean(x**2)), 1e-5); "
    "4. features = 0.1 * ln((|X| / r)**2 + 1e-8), shaped (1, 1, F, T); "
    "5. mask = graph(features), (1, 1, F, T); E = X * mask; "
    "5a. if df_order K > 0, the graph's second output taps (1, 2K, D, T), D = df_bins: for f < D, "
    "E[f, t] += sum over k < K of (taps[2k, f, t] + 1j * taps[2k + 1, f, t]) * X[f, t - k], X = 0 before "
    "the first frame; "
    "6. y = ISTFT(E) with the same window (overlap-add divided by the summed squared window), "
    "trimmed to len(x). denoise audio does this on 10 s chunks with 0.5 s of context each side, "
    "cross-faded over 0.1 s; on a file of up to 10 s it is one chunk. "
    "7. if causal is 1 (the graph hears only past frames, so it hears a recording's start cold): steps 2-6 "
    "also on the first n = min(len(x), head_seconds * sample_rate) samples reversed in time, the "
    "result reversed back to h; y[:n/4] = h[:n/4], and over [n/4, n/2) y = w * h + (1 - w) * y, w falling "
    "linearly from 1 to 0.")


class MissingOnnx(RuntimeError):
    """onnx / onnxruntime are not installed; the message says what to install."""


class _AudioMask(nn.Module):
    """features (N, 1, F, T) -> mask (N, 1, F, T): the audio network with its sigmoid (and low cut); with
    deep filtering also taps (N, 2K, D, T), the low cut applied to them too (recipe step 5a)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.model.net(features)
        mask = self.model.mask(out)
        if not self.model.df_order:
            return mask
        return mask, self.model.filter_taps(out)


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingOnnx(f"ONNX export needs onnx: {install_hint('onnx')}") from None


def _graph(model: nn.Module) -> tuple[nn.Module, torch.Tensor, str, list[str]]:
    """(module to export, an example input, input name, output names). The example's free sides are one more
    than the size multiple: the tracer records the padding the network does inside (reflect, whose
    amounts are then computed from the input's shape); on a side that is already a multiple it would
    record no padding at all."""
    side = model.size_multiple + 1
    if model.domain == "image":
        return model, torch.rand(1, model.config.channels, side, side), "noisy", ["denoised"]
    freqs = model.stft_cfg.n_fft // 2 + 1
    names = ["mask", "taps"] if model.df_order else ["mask"]
    return _AudioMask(model), torch.randn(1, 1, freqs, side) * 0.3 - 1.0, "features", names


def metadata(model: nn.Module) -> dict[str, str]:
    """What a user of the .onnx file needs to know, as string key/values (ONNX ``metadata_props``)."""
    from denoise.checkpoint import sha256_file
    from denoise.version import __version__

    meta = {"producer": f"denoise {__version__}", "domain": model.domain,
            "min_size": "1 (height and width; frames for audio)",
            "channels": str(model.config.channels), "size_multiple": str(model.size_multiple),
            "checkpoint_sha256": sha256_file(Path(model.source)) if getattr(model, "source", None) else ""}
    if model.domain == "image":
        meta["io"] = ("noisy (N, C, H, W) float32 in [0, 1] -> denoised (N, C, H, W); any H and W (padded "
                      "inside to a multiple of size_multiple: by reflection, or by repeating the last row or "
                      "column where a side is too short to reflect); values may leave [0, 1] slightly: clip "
                      "before converting to 8 bits")
    else:
        meta.update(sample_rate=str(model.sample_rate), stft=json.dumps(model.stft_cfg.to_dict()),
                    io="features (N, 1, F, T) float32 -> mask (N, 1, F, T) in [0, 1]" + (
                        ", taps (N, 2 df_order, df_bins, T)" if model.df_order else ""), recipe=AUDIO_RECIPE,
                    causal=str(int(is_causal(model))), head_seconds=f"{HEAD_SECONDS:g}",
                    df_order=str(model.df_order), df_bins=str(model.df_bins))
    return meta


def export_onnx(model: nn.Module, dst: Path, overwrite: bool = False, opset: int = OPSET) -> Path:
    """Writes ``model`` (a loaded checkpoint) as ONNX to ``dst``, atomically; see the module docstring for
    the graph's inputs and outputs. Raises :class:`MissingOnnx` without the onnx package."""
    require_onnx()
    import onnx

    io.check_output_file(Path(dst), overwrite)
    module, example, name_in, names_out = _graph(model)
    module = module.to("cpu", memory_format=torch.contiguous_format).eval()
    axes = {0: "batch", 2: "height", 3: "width"} if model.domain == "image" else {0: "batch", 3: "frames"}
    # no_grad: the graph is for inference, so it takes the inference forms (the naf's folded residuals)
    with io.atomic_output(Path(dst), overwrite) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notices; the result is checked below
        torch.onnx.export(module, (example,), str(tmp), input_names=[name_in], output_names=names_out,
                          dynamic_axes={name: axes for name in [name_in, *names_out]}, opset_version=opset,
                          dynamo=False)
        proto = onnx.load(str(tmp))
        for key, value in metadata(model).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    log.info("exported %s to %s", getattr(model, "source", "model"), dst)
    return Path(dst)


def onnx_metadata(path: Path) -> dict[str, Any]:
    """The metadata_props of an exported file, as a dict."""
    require_onnx()
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
