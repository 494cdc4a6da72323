"""Speech over each class of everyday noise at 5 dB SNR: the SI-SDR gain per UrbanSound8K class of
noise/dev (barks, horns, drills, sirens, ...), ours against RNNoise, DeepFilterNet3 and noisereduce in the
same run.

Speech/dev utterances are mixed with the noise files of one class in turn (`evaluation.mix_for_eval`,
seeded), 16 kHz. A negative gain means the output is further from the clean speech than the noisy input.
Outputs are aligned to the clean speech first (peers add a constant delay).

    python benchmarks/transients.py
    python benchmarks/transients.py --per-class 5     # quicker
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, machine, parser, table  # noqa: E402
from _peers import available  # noqa: E402
from audio_quality import align  # noqa: E402

from denoise import checkpoint, io, metrics  # noqa: E402
from denoise.training.evaluation import mix_for_eval, read_mono  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402

SR = 16000
CLASSES = ["air conditioner", "car horn", "children playing", "dog bark", "drilling", "engine idling", "gun shot",
           "jackhammer", "siren", "street music"]


def by_class(folder: Path) -> dict[int, list[Path]]:
    """noise/dev files by UrbanSound8K class id (the third number of urbansound8k-FSID-CLASS-...)."""
    out: dict[int, list[Path]] = {}
    for f in io.list_files([folder], io.AUDIO_EXTS):
        m = re.match(r"urbansound8k-\d+-(\d+)-", f.name)
        if m:
            out.setdefault(int(m.group(1)), []).append(f)
    return out


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--per-class", type=int, default=12, help="mixtures per noise class")
    ap.add_argument("--model", nargs="+", default=["audio-speech"], help="shipped names or checkpoints")
    args = ap.parse_args()
    root = data_root(args.data_root)
    methods = {name: (lambda x, sr, m=checkpoint.load(name, "audio"): denoise_audio_array(m, x, sr))
               for name in args.model}
    methods.update(available())
    speech = [read_mono(f, SR) for f in io.list_files([root / "audio/speech/dev"], io.AUDIO_EXTS)[: args.per_class]]
    rows = []
    for cls, files in sorted(by_class(root / "audio/noise/dev").items()):
        noises = [read_mono(f, SR) for f in files[: args.per_class]]
        gains: dict[str, list[float]] = {name: [] for name in methods}
        for i, clean in enumerate(speech):
            noisy = mix_for_eval(clean, noises, i, 5.0).astype(np.float32)
            base = metrics.si_sdr(clean, noisy)
            for name, fn in methods.items():
                gains[name].append(metrics.si_sdr(clean, align(fn(noisy, SR), clean)) - base)
        rows.append({"noise": CLASSES[cls], "files": len(files), **{f"{k} gain dB": float(np.mean(v))
                                                                     for k, v in gains.items()}})
    print(f"machine: {machine()}; {len(speech)} mixtures per class at 5 dB SNR\n")
    print(table(rows, floats=2))


if __name__ == "__main__":
    main()
