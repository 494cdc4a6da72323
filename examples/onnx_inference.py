"""Reference inference for models exported with `denoise export`: numpy, soundfile, Pillow and onnxruntime,
no PyTorch and no denoise package. It reproduces `denoise image` / `denoise audio` on one file:

    denoise export image-photo -o photo.onnx
    python examples/onnx_inference.py photo.onnx noisy.png clean.png
    denoise export audio-speech -o speech.onnx
    python examples/onnx_inference.py speech.onnx noisy.wav clean.wav

Differences from the command line, by design, to stay short: the whole picture or recording goes through
the graph in one pass (`denoise image` cuts pictures over 512 pixels into blended tiles, `denoise audio`
streams 10 s chunks), so on large inputs it needs more memory and its result differs slightly at the
seams the command line blends; gray pictures go through a colour model three times identical (the command
line would pick a gray model); audio must already be at the model's rate; 8-bit files only.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort


def load(path: str) -> tuple[ort.InferenceSession, dict[str, str]]:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session, dict(session.get_modelmeta().custom_metadata_map)


# ------------------------------------------------------------------------------------------------ images
def denoise_picture(session: ort.InferenceSession, meta: dict[str, str], pixels: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] -> the same shape. A 1-channel model cleans each channel on its own; a
    3-channel model gets a gray picture repeated three times and the result averaged back."""
    channels = int(meta["channels"])
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))[None]  # (1, C, H, W)
    if channels == chw.shape[1]:
        out = session.run(None, {"noisy": chw})[0]
    elif channels == 1:
        out = session.run(None, {"noisy": chw.transpose(1, 0, 2, 3)})[0].transpose(1, 0, 2, 3)
    else:
        out = session.run(None, {"noisy": np.repeat(chw, 3, axis=1)})[0].mean(axis=1, keepdims=True)
    return out[0].transpose(1, 2, 0)


def image_file(session: ort.InferenceSession, meta: dict[str, str], src: str, dst: str) -> None:
    from PIL import Image

    with Image.open(src) as im:
        mode = "L" if im.mode in ("L", "LA", "1") else "RGB"
        arr = np.asarray(im.convert(mode), np.float32) / 255.0
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    out = denoise_picture(session, meta, arr)
    out8 = np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
    Image.fromarray(out8[:, :, 0] if out8.shape[2] == 1 else out8).save(dst)


# ------------------------------------------------------------------------------------------------- audio
def stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """(T,) -> (F, 1 + T // hop) complex: frames centred on k * hop, the signal reflect-padded by n_fft/2."""
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad), mode="reflect" if len(x) > pad else "constant")
    count = 1 + len(x) // hop
    frames = np.stack([xp[k * hop : k * hop + n_fft] for k in range(count)])
    return np.fft.rfft(frames * window, n=n_fft, axis=1).T


def istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """The exact inverse of :func:`stft`: overlap-add of windowed frames over the summed squared window."""
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * window
    total = n_fft + hop * (frames.shape[0] - 1)
    out, norm = np.zeros(total), np.zeros(total)
    for k, frame in enumerate(frames):
        out[k * hop : k * hop + n_fft] += frame
        norm[k * hop : k * hop + n_fft] += window**2
    out = out / np.where(norm > 1e-11, norm, 1.0)
    return out[n_fft // 2 : n_fft // 2 + length]


def denoise_wave(session: ort.InferenceSession, meta: dict[str, str], x: np.ndarray) -> np.ndarray:
    """(T,) float at the model's rate -> (T,), following the recipe in the model's metadata."""
    cfg = json.loads(meta["stft"])
    n_fft, hop, win_length = cfg["n_fft"], cfg["hop_length"], cfg["win_length"]
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2  # a shorter window sits in the middle of the frame, as in torch.stft
    window[start : start + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    spec = stft(x.astype(np.float64), n_fft, hop, window)
    level = max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-5)
    features = 0.1 * np.log((np.abs(spec) / level) ** 2 + 1e-8)
    outputs = session.run(None, {"features": features[None, None].astype(np.float32)})
    est = spec * outputs[0][0, 0]
    if int(meta.get("df_order", "0")):  # recipe step 5a: a filter over each low bin's current and past frames
        taps = outputs[1][0].astype(np.float64)  # (2K, D, T)
        bins, frames = taps.shape[1], spec.shape[1]
        for k in range(taps.shape[0] // 2):
            past = np.pad(spec[:bins], ((0, 0), (k, 0)))[:, :frames]  # X[f, t - k], zeros before the start
            est[:bins] += (taps[2 * k] + 1j * taps[2 * k + 1]) * past
    return istft(est, n_fft, hop, window, len(x)).astype(np.float32)


def denoise_wave_file(session: ort.InferenceSession, meta: dict[str, str], x: np.ndarray) -> np.ndarray:
    """(T,) -> (T,): ``denoise_wave``, and for a causal model the recipe's step 7: the start of the
    recording (``head_seconds``) also run reversed in time, where the model hears it after what follows it."""
    y = denoise_wave(session, meta, x)
    if meta.get("causal") != "1":
        return y
    n = min(len(x), int(float(meta["head_seconds"]) * int(meta["sample_rate"])))
    head = denoise_wave(session, meta, np.ascontiguousarray(x[:n][::-1]))[::-1]
    w = np.clip((n / 2 - (np.arange(n) + 0.5)) / (n / 4), 0.0, 1.0)
    y[:n] = w * head + (1.0 - w) * y[:n]
    return y


def audio_file(session: ort.InferenceSession, meta: dict[str, str], src: str, dst: str) -> None:
    import soundfile as sf

    x, sr = sf.read(src, dtype="float32", always_2d=True)
    if sr != int(meta["sample_rate"]):
        raise SystemExit(f"{src} is at {sr} Hz; this model wants {meta['sample_rate']} Hz: resample it first")
    y = np.stack([denoise_wave_file(session, meta, x[:, c]) for c in range(x.shape[1])], axis=1)
    sf.write(dst, y, sr, subtype=sf.info(src).subtype)


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    model, src, dst = sys.argv[1:]
    session, meta = load(model)
    (image_file if meta["domain"] == "image" else audio_file)(session, meta, src, dst)


if __name__ == "__main__":
    main()
