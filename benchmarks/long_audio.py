"""Long recordings stream with bounded memory: peak RSS of `denoise audio` on generated files of growing length.

For each length in --hours, writes a 16 kHz mono 16-bit WAV of synthetic speech-like tones in noise (generated
block by block, so this script stays small too), runs the real CLI on it in a child process
(`denoise audio IN -o OUT`), and reports the child's wall time, speed against real time, and peak resident
memory (from ``os.wait4``, the kernel's own count for that process alone). Memory is bounded if the peak
stays flat as the file grows; a reader that loaded the file would need ~4 bytes per sample (about 2.3 GB at
10 h) for the float copy alone. It then checks that the output has exactly the input's frame count and is
not silent.

    python benchmarks/long_audio.py                  # 0.1, 1 and 10 hours (~2.3 GB of scratch WAV at 10 h)
    python benchmarks/long_audio.py --hours 0.1 1    # quicker
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, peak_rss_run, table  # noqa: E402

SR = 16000
BLOCK_SECONDS = 60


def write_long_wav(path: Path, hours: float, seed: int = 0) -> int:
    """Writes ``hours`` of audio in 60 s blocks; returns the frame count. Syllable-rate amplitude modulation
    of a few harmonics (a crude voice) plus white noise at about 5 dB SNR."""
    rng = np.random.default_rng(seed)
    n_total = int(round(hours * 3600 * SR))
    block = BLOCK_SECONDS * SR
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16", format="WAV") as f:
        for start in range(0, n_total, block):
            t = (np.arange(start, min(start + block, n_total)) / SR).astype(np.float64)
            f0 = 140.0 + 30.0 * np.sin(2 * np.pi * 0.3 * t)
            phase = 2 * np.pi * np.cumsum(f0) / SR
            voice = sum(np.sin(k * phase) / k for k in range(1, 6))
            envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t))
            x = 0.15 * voice * envelope
            x += 0.03 * rng.standard_normal(t.shape)
            f.write(x.astype(np.float32))
    return n_total


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--hours", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    ap.add_argument("--model", default="audio-speech")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="Passed to `denoise audio` (default: its own).")
    ap.add_argument("--workdir", default=None, help="Scratch folder (default: a temporary one, deleted after).")
    args = ap.parse_args()
    denoise = shutil.which("denoise")
    if denoise is None:
        raise SystemExit("the `denoise` command is not on PATH: pip install -e . first")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="denoise-long-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; scratch: {work}", flush=True)
    rows = []
    try:
        for hours in args.hours:
            src, dst = work / f"in-{hours:g}h.wav", work / f"out-{hours:g}h.wav"
            dst.unlink(missing_ok=True)
            t = time.perf_counter()
            frames = write_long_wav(src, hours)
            print(f"{hours:g} h: wrote {src.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.0f} s; "
                  "denoising...", flush=True)
            wall, rc, peak = peak_rss_run([denoise, "audio", "--quiet", str(src), "-o", str(dst),
                                           "--model", args.model, "--device", args.device,
                                           *(["--batch-size", str(args.batch_size)] if args.batch_size else [])])
            ok = rc == 0 and dst.is_file()
            out_frames, rms = None, None
            if ok:
                out_frames = sf.info(dst).frames
                with sf.SoundFile(dst) as f:  # RMS of the first minute only: reading it all would defeat the point
                    rms = float(np.sqrt(np.mean(f.read(60 * SR, dtype="float32") ** 2)))
            rows.append({"hours": hours, "input MiB": round(src.stat().st_size / 2**20), "exit": rc,
                         "frames match": out_frames == frames, "output RMS (1st min)": rms,
                         "wall s": wall, "x real time": hours * 3600 / wall, "peak RSS MiB": peak})
            print(table(rows[-1:]), flush=True)
            src.unlink()
            dst.unlink(missing_ok=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n## `denoise audio` on long files (CPU)\n")
    print(table(rows, floats=2))
    peaks = [r["peak RSS MiB"] for r in rows]
    if len(peaks) > 1:
        print(f"\npeak RSS grew {peaks[-1] - peaks[0]:+.0f} MiB from {rows[0]['hours']:g} h to "
              f"{rows[-1]['hours']:g} h ({rows[-1]['hours'] / rows[0]['hours']:.0f}x the audio)")


if __name__ == "__main__":
    main()
