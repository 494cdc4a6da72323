"""Causal speech networks at inference: one pass over the whole chunk against blocks of frames.

``CausalCRN.forward`` runs a long input through ``step`` in blocks of frames with the state carried (out
of training), because a layer's output for a whole 11 s chunk (a 10 s chunk and its context) does not fit
the CPU caches. This times the shipped causal models' networks on 11 s of features, batches of 1, 4 and
8 (a folder run puts up to 8 files' chunks in one batch), on one thread and on all cores: the whole
signal in one ``step`` call (the behaviour before blocks) against blocks of 32 to 512 frames, and the
block size ``forward`` picks for that batch. Networks only (no STFT, resampling or file I/O); wall time,
fastest of --repeat rounds after a warm-up round, the variants taking turns.

A second table runs a folder end to end as `denoise audio` does (``denoise_paths``: read, resample,
denoise, write): --files WAV files of 12 s of noise at 48 kHz through the default speech model, batch 1
and 8, on the threads the library picks, forward in blocks against forward over the whole chunk (the
block size set beyond any chunk). A third times one file at a time as ``denoise.denoise_audio`` runs it
(``denoise_audio_array``, 12 and 30 s of noise at 48 kHz), CPU seconds per second of audio on 1 and 2
threads.

    python benchmarks/causal_blocks.py
    python benchmarks/causal_blocks.py --tables file --repeat 6
    python benchmarks/causal_blocks.py --model audio-speech-fullband --batch 8 --repeat 5
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_times, machine, parser, table  # noqa: E402

from denoise import checkpoint, dsp, io  # noqa: E402
from denoise.models import crn  # noqa: E402
from denoise.audio.chunks import denoise_audio_array  # noqa: E402
from denoise.runner.files import denoise_paths  # noqa: E402

BLOCKS = (32, 64, 128, 256, 512)


def row(name: str, threads: int, batch: int, seconds: float, repeat: int) -> dict:
    model = checkpoint.load(name, "audio")
    net, sr = model.net, model.config.sample_rate
    torch.manual_seed(0)
    wave = torch.randn(batch, int(seconds * sr)) * 0.05
    feats = model.features(wave, dsp.stft(wave, model.stft_cfg))
    torch.set_num_threads(threads)
    with torch.inference_mode():
        fns = {"whole": lambda: net.step(feats, None), "forward": lambda: net(feats)}
        fns.update({str(f): (lambda f=f: net.step_in_blocks(feats, f)) for f in BLOCKS})
        times = best_times(fns, repeat)
    return {"model": name, "threads": threads, "batch": batch, "frames": feats.shape[-1],
            "whole (s)": times["whole"], **{f"{f} frames (s)": times[str(f)] for f in BLOCKS},
            "forward (s)": times["forward"], "forward's block": crn.inference_block_frames(batch),
            "whole / forward": times["whole"] / times["forward"]}


def run_folder(model: torch.nn.Module, jobs: list, batch: int, frame_items: int) -> None:
    with mock.patch.object(crn, "FRAME_ITEMS_PER_BLOCK", frame_items):
        bad = [r for r in denoise_paths(model, jobs, overwrite=True, workers=1, batch_size=batch)
               if r.status != "done"]
    if bad:
        raise SystemExit(f"{bad[0].src}: {bad[0].reason}")


def folder_rows(n_files: int, repeat: int) -> list[dict]:
    """``denoise_paths`` over ``n_files`` 12 s WAVs at 48 kHz, blocks on and off, batch 1 and 8, on the
    threads the library picks for the work (as the command line runs it)."""
    model = checkpoint.load("default", "audio")
    rng = np.random.default_rng(0)
    rows, blocks = [], crn.FRAME_ITEMS_PER_BLOCK
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        out.mkdir()
        for i in range(n_files):
            sf.write(src / f"{i:02d}.wav", (rng.standard_normal(12 * 48000) * 0.05).astype(np.float32), 48000)
        jobs = [io.Job(f, out / f.name) for f in sorted(src.iterdir())]
        for batch in (1, 8):
            fns = {label: (lambda items=items, batch=batch: run_folder(model, jobs, batch, items))
                   for label, items in (("whole chunk", 10**9), ("blocks", blocks))}
            for label, seconds in best_times(fns, repeat).items():
                rows.append({"batch": batch, "forward": label, "seconds": seconds,
                             "× real time": 12 * n_files / seconds})
    return rows


def file_rows(repeat: int) -> list[dict]:
    """``denoise_audio_array`` on one 12 s and one 30 s noise at 48 kHz, blocks on and off, 1 and 2
    threads (DENOISE_THREADS, which the library reads at each pass)."""
    model = checkpoint.load("default", "audio")
    rng = np.random.default_rng(0)
    rows, blocks = [], crn.FRAME_ITEMS_PER_BLOCK
    for threads, seconds in itertools.product((1, 2), (12.0, 30.0)):
        x = (rng.standard_normal((1, int(seconds * 48000))) * 0.05).astype(np.float32)
        fns = {label: (lambda items=items, threads=threads: run_file(model, x, items, threads))
               for label, items in (("whole chunk", 10**9), ("blocks", blocks))}
        times = best_times(fns, repeat)
        rows.append({"threads": threads, "seconds of audio": seconds,
                     **{f"{k}: CPU s per s": v * threads / seconds for k, v in times.items()}})
    return rows


def run_file(model: torch.nn.Module, x: np.ndarray, frame_items: int, threads: int) -> None:
    with mock.patch.object(crn, "FRAME_ITEMS_PER_BLOCK", frame_items), \
            mock.patch.dict(os.environ, {"DENOISE_THREADS": str(threads)}):
        denoise_audio_array(model, x, 48000)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--model", nargs="+", default=["audio-speech-fullband", "audio-speech"])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--seconds", type=float, default=11.0, help="audio per batch item (a chunk and its context)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; each variant runs once per round")
    ap.add_argument("--files", type=int, default=12, help="WAV files in the end-to-end folder run")
    ap.add_argument("--tables", nargs="+", choices=("nets", "folder", "file"), default=["nets", "folder", "file"])
    args = ap.parse_args()
    print(f"machine: {machine()}")
    if "nets" in args.tables:
        rows = [row(name, t, b, args.seconds, args.repeat)
                for name in args.model for t in dict.fromkeys(args.threads) for b in args.batch]
        print(f"\n# Causal networks: whole signal against blocks of frames ({args.seconds:g} s per item)\n")
        print(table(rows, 3))
    if "folder" in args.tables:
        rows = folder_rows(args.files, args.repeat)
        print(f"\n# A folder of {args.files} WAV files (12 s, 48 kHz) through the default speech model\n")
        print(table(rows, 2))
    if "file" in args.tables:
        print("\n# One file at a time (denoise_audio_array, noise at 48 kHz, the default speech model)\n")
        print(table(file_rows(args.repeat), 4))


if __name__ == "__main__":
    main()
