"""Scores examples/denoised/ against the clean originals (needs scikit-image and ../shared/data).

    python examples/score_examples.py [DATA_ROOT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf

from denoise import metrics
from denoise.io import read_image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_examples import SPEECH  # noqa: E402


def main(data_root: str = "../shared/data") -> None:
    import skimage.data

    clean = {"coffee.png": skimage.data.coffee()[60:316, 100:484] / 255.0,
             "camera.png": skimage.data.camera()[40:296, 160:416][:, :, None] / 255.0}
    for name, ref in clean.items():
        noisy = read_image(HERE / "noisy" / name).pixels
        out = read_image(HERE / "denoised" / name).pixels
        print(f"{name}: PSNR noisy {metrics.psnr(ref, noisy):.2f} dB -> denoised {metrics.psnr(ref, out):.2f} dB; "
              f"SSIM {metrics.ssim(ref, noisy):.3f} -> {metrics.ssim(ref, out):.3f}")
    speech, sr = sf.read(Path(data_root) / "audio/speech/dev" / SPEECH, dtype="float64")
    noisy, _ = sf.read(HERE / "noisy" / "speech.wav", dtype="float64")
    out, _ = sf.read(HERE / "denoised" / "speech.wav", dtype="float64")
    speech = speech[: len(noisy)]
    print(f"speech.wav: SI-SDR noisy {metrics.si_sdr(speech, noisy):.2f} dB -> denoised {metrics.si_sdr(speech, out):.2f} dB")


if __name__ == "__main__":
    main(*sys.argv[1:])
