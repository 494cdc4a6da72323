"""What the full-band speech model costs on a CPU, and what a smaller one would: parameters, multiply-
accumulates and CPU seconds per second of 48 kHz audio, for the shipped `audio-speech-fullband` crn and
sizes of it.

The speed target for speech at 48 kHz is 0.05 CPU s per second of audio on one thread. A file run also runs
its first `HEAD_SECONDS` time-reversed (the cold start of a causal model), so a clip shorter than that costs
two passes over itself. The clips are real: the first --limit speech48k/dev utterances (3.3-4.6 s) in white
noise at 5 dB SNR, each run as `denoise audio` runs a file (`denoise_audio_array`), and the same utterances
joined into one file of about 12 s per three. Each clip's time is the fastest of --repeat runs, the models
taking turns (`best_times`): the VM's speed drifts by up to a third, and this keeps a slow spell out of
the comparison. Untrained weights for the candidates: the cost does not depend on them (the candidate
`{}`, the shipped size untrained, shows it).

    python benchmarks/speech_size.py                      # the shipped model and the default candidates
    python benchmarks/speech_size.py --arch-args '{"width": 24, "hidden": 128}'
    python benchmarks/speech_size.py --shipped-only       # what the shipped model costs
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_times, data_root, machine, macs, parser, table  # noqa: E402

from denoise import checkpoint, io  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.device import reuse_freed_cpu_memory  # noqa: E402
from denoise.dsp import resample  # noqa: E402
from denoise.models import build_model, count_parameters  # noqa: E402

SR = 48000
# each candidate changes the shipped crn's arguments (bins, low_bins and high_bands stay: they fit the STFT)
CHANGES = [{}, {"width": 24}, {"width": 16}, {"hidden": 128}, {"time_kernel": 2}, {"width": 24, "hidden": 128}]


def clips(root: Path, limit: int) -> dict[str, list[np.ndarray]]:
    """The short clips and the ~12 s files (every three utterances joined), in white noise at 5 dB SNR."""
    speech = []
    for f in io.list_files([root / "audio/speech48k/dev"], io.AUDIO_EXTS)[:limit]:
        s, sr = io.read_audio(f)
        speech.append(s.mean(axis=0) if sr == SR else resample(s.mean(axis=0), sr, SR))
    joined = [np.concatenate(speech[i : i + 3]) for i in range(0, len(speech) - 2, 3)]
    rng = np.random.default_rng(0)
    return {"short clips": [in_noise(s, rng) for s in speech], "12 s files": [in_noise(s, rng) for s in joined]}


def in_noise(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``s`` in white noise at 5 dB SNR, float32."""
    return (s + rng.standard_normal(s.size) * np.sqrt(np.mean(s**2)) / 10 ** 0.25).astype(np.float32)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--arch-args", action="append", default=None,
                    help="JSON changes to the shipped crn's arguments (repeatable; default: the candidates).")
    ap.add_argument("--shipped-only", action="store_true", help="time the shipped model alone")
    ap.add_argument("--limit", type=int, default=9, help="speech48k/dev utterances (default 9)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    reuse_freed_cpu_memory()  # as the denoise commands do, so that the times are theirs
    os.environ["DENOISE_THREADS"] = "1"  # the target is for one thread (the library sets threads per pass)
    shipped = checkpoint.load("audio-speech-fullband", domain="audio")
    changes = [json.loads(a) for a in args.arch_args or []] or ([] if args.shipped_only else CHANGES)
    models = {"shipped": shipped}
    for change in changes:
        cfg = dataclasses.replace(shipped.config, args={**shipped.config.args, **change})
        models[json.dumps(change, sort_keys=True)] = build_model(cfg).eval()
    print(f"# Full-band speech network sizes, machine: {machine()}\n")
    rows = [{"crn arguments changed": name, "params": f"{count_parameters(m):,}",
             "MMAC / s of audio, one pass": macs(m, 0.05 * torch.randn(1, SR)) / 1e6} for name, m in models.items()]
    for kind, xs in clips(data_root(args.data_root), args.limit).items():
        total = {name: 0.0 for name in models}
        for x in xs:
            fns = {name: (lambda m=m, x=x: denoise_audio_array(m, x, SR)) for name, m in models.items()}
            for name, t in best_times(fns, args.repeat).items():
                total[name] += t
        for row in rows:
            row[f"CPU s / s, {kind}"] = total[row["crn arguments changed"]] / (sum(x.size for x in xs) / SR)
    print(table(rows, floats=3))


if __name__ == "__main__":
    main()
