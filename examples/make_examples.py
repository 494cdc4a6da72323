"""Regenerates the noisy example inputs in examples/noisy/ (needs scikit-image and ../shared/data).

    python examples/make_examples.py [DATA_ROOT]

- coffee.png: scikit-image's `coffee` (CC0, Rachel Michetti), crop 256x384, Gaussian noise σ=25, seed 0.
- camera.png: scikit-image's `camera` (CC0, Lav Varshney), crop 256x256, gray, Gaussian noise σ=25, seed 1.
- speech.wav: a LibriSpeech utterance (CC BY 4.0) from DATA_ROOT/audio/speech/dev, first 6 s, mixed with
  synthetic pink noise at 5 dB SNR (seed 2), 16 kHz PCM_16.
Noisy images are clipped and rounded to 8 bits, as a saved noisy photo would be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

HERE = Path(__file__).resolve().parent
SPEECH = "librispeech-83-11691-0000.flac"


def noisy_image(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = clean.astype(np.float64) / 255 + rng.standard_normal(clean.shape) * sigma / 255
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def pink(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    return np.fft.irfft(spec, n)


def main(data_root: str = "../shared/data") -> None:
    import skimage.data

    out = HERE / "noisy"
    out.mkdir(exist_ok=True)
    Image.fromarray(noisy_image(skimage.data.coffee()[60:316, 100:484], 25, 0)).save(out / "coffee.png")
    Image.fromarray(noisy_image(skimage.data.camera()[40:296, 160:416], 25, 1)).save(out / "camera.png")
    speech, sr = sf.read(Path(data_root) / "audio/speech/dev" / SPEECH, dtype="float64")
    speech = speech[: 6 * sr]
    noise = pink(len(speech), 2)
    noise *= np.sqrt(np.mean(speech**2) / (np.mean(noise**2) * 10 ** (5 / 10)))
    mix = speech + noise
    mix *= 0.5 / np.abs(mix).max()
    sf.write(out / "speech.wav", mix, sr, subtype="PCM_16")
    print(f"wrote {', '.join(p.name for p in sorted(out.iterdir()))} in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
