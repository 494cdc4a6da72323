"""Rate independence: the same noisy speech at 16 kHz and upsampled to 22.05, 44.1 and 48 kHz.

speech/dev mixed with noise/dev at 0, 5 and 10 dB (the mixtures of `denoise eval` and audio_quality.py),
normalised to -26 dBFS, upsampled with soxr (so nothing lies above 8 kHz), denoised at each rate and
brought back to 16 kHz. PESQ-wb, STOI and SI-SDR against the clean 16 kHz speech, and the agreement of
each rate's output with the 16 kHz output (SI-SDR of one against the other; a clean resampling round trip
of the input alone is given beside it). A model whose path does not depend on the rate scores the same
at every rate.

    python benchmarks/rate_independence.py
    python benchmarks/rate_independence.py --limit 20 --model audio-speech audio-speech-unet
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.dsp import resample  # noqa: E402
from denoise.training.data import list_files  # noqa: E402
from denoise.training.evaluation import mix_for_eval, read_mono  # noqa: E402

SR = 16000


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--model", nargs="+", default=["audio-speech"])
    ap.add_argument("--limit", type=int, default=None, help="First N speech/dev files.")
    ap.add_argument("--rates", type=int, nargs="+", default=[16000, 22050, 44100, 48000])
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    root = data_root(args.data_root)
    speech = [read_mono(f, SR) for f in list_files([root / "audio/speech/dev"], io.AUDIO_EXTS)[: args.limit]]
    noise = [read_mono(f, SR) for f in list_files([root / "audio/noise/dev"], io.AUDIO_EXTS)]
    rows = []
    for name in args.model:
        model = checkpoint.load(name, domain="audio")
        acc: dict[int, dict[str, list[float]]] = {r: {"pesq": [], "stoi": [], "sdr": [], "agree": [], "rt": []}
                                                  for r in args.rates}
        for snr in (0.0, 5.0, 10.0):
            for i, clean in enumerate(speech):
                mix = mix_for_eval(clean, noise, i, snr)
                g = 10 ** (-26 / 20) / max(np.sqrt(np.mean(mix**2)), 1e-12)
                mix, ref = (mix * g).astype(np.float32), clean * g
                base = None
                for rate in args.rates:
                    x = mix if rate == SR else resample(mix, SR, rate)
                    y = denoise_audio_array(model, x, rate)
                    y = y if rate == SR else resample(y, rate, SR)
                    y = np.pad(y, (0, max(0, len(ref) - len(y))))[: len(ref)]
                    base = y if rate == SR else base
                    a = acc[rate]
                    p = metrics.pesq_wb(ref, y, SR)
                    if p is not None:
                        a["pesq"].append(p)
                    a["stoi"].append(metrics.stoi(ref, y, SR))
                    a["sdr"].append(metrics.si_sdr(ref, y))
                    if rate != SR and base is not None:
                        a["agree"].append(metrics.si_sdr(base, y))
                        back = resample(x, rate, SR)[: len(mix)]
                        a["rt"].append(metrics.si_sdr(mix[: len(back)], back))
        for rate in args.rates:
            a = acc[rate]
            rows.append({"model": name, "rate": rate, "PESQ-wb": float(np.mean(a["pesq"])),
                         "STOI": float(np.mean(a["stoi"])), "SI-SDR dB": float(np.mean(a["sdr"])),
                         "output vs 16 kHz output (median dB)": float(np.median(a["agree"])) if a["agree"] else None,
                         "input round trip (median dB)": float(np.median(a["rt"])) if a["rt"] else None})
    print(f"# Rate independence: speech/dev ({len(speech)} files) + noise/dev at 0/5/10 dB, -26 dBFS; "
          f"{machine()}\n")
    print(table(rows, 3))


if __name__ == "__main__":
    main()
