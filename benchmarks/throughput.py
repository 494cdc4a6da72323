"""Throughput of `denoise image` / `denoise audio` on folders: files/s, MP/s or x real time, against --workers
and --batch-size, with the share of time in decode, model and encode.

Runs `denoise.runner.files.denoise_paths` (the code behind the command line) on generated folders:
- 200 PNGs of 128x128 (colour), 25 JPEGs of 1024x768, one 2048x2048 PNG;
- 40 WAV files of 10 s at 16 kHz.
The "identity" model returns its input (no computation): what is left is decoding, batching and encoding,
compared with the raw speed of the same decode + encode in a plain loop (`raw`). Busy seconds per stage
are summed over threads; the shares are of their total (images only: audio is decoded and encoded in the
same thread as the model, block by block).

    python benchmarks/throughput.py                  # CPU, every row
    python benchmarks/throughput.py --quick          # fewer rows
    python benchmarks/throughput.py --device cuda    # on a GPU (also run by gpu_check.sh)
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, table  # noqa: E402

from denoise import checkpoint, inference, io  # noqa: E402
from denoise.runner.files import denoise_paths  # noqa: E402
from denoise.config import ModelConfig, STFTConfig  # noqa: E402


class Identity(nn.Module):
    """Returns its input: a model that costs nothing, to measure everything around it."""

    def __init__(self, domain: str, channels: int) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # a parameter, so the device can be read off it
        self.domain = domain
        self.config = ModelConfig(arch="dae", domain=domain, channels=channels, sample_rate=16000 if domain == "audio"
                                  else None, stft=STFTConfig() if domain == "audio" else None,
                                  output="mask" if domain == "audio" else "residual")
        self.size_multiple, self.sample_rate = 1, self.config.sample_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


BUSY: dict[str, float] = defaultdict(float)
_LOCK = threading.Lock()


def _timed(name: str, fn: Any) -> Any:
    def wrapper(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            with _LOCK:
                BUSY[name] += time.perf_counter() - t0
    return wrapper


@contextmanager
def instrumented() -> Iterator[None]:
    """Counts busy seconds in decode (io.read_image), model (denoise_tensor) and encode (io.save_image)."""
    from denoise.image import batching

    saved = io.read_image, io.save_image, inference.denoise_tensor
    io.read_image, io.save_image = _timed("decode", io.read_image), _timed("encode", io.save_image)
    inference.denoise_tensor = batching.denoise_tensor = _timed("model", inference.denoise_tensor)
    BUSY.clear()
    try:
        yield
    finally:
        io.read_image, io.save_image, inference.denoise_tensor = saved
        batching.denoise_tensor = saved[2]


def _pictures(folder: Path, n: int, h: int, w: int, ext: str, rng: np.random.Generator, **save: Any) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:03d}{ext}" for i in range(n)]
    for p in paths:
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(p, **save)
    return paths


def make_folders(root: Path) -> dict[str, list[Path]]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    sets = {"200 png 128x128": _pictures(root / "small", 200, 128, 128, ".png", rng),
            "25 jpeg 1024x768": _pictures(root / "jpeg", 25, 768, 1024, ".jpg", rng, quality=90),
            "1 png 2048x2048": _pictures(root / "big", 1, 2048, 2048, ".png", rng), "40 wav 10 s": []}
    (root / "wav").mkdir(parents=True, exist_ok=True)
    for i in range(40):
        p = root / "wav" / f"{i:02d}.wav"
        sf.write(p, (rng.standard_normal(160000) * 0.05).astype(np.float32), 16000, subtype="PCM_16")
        sets["40 wav 10 s"].append(p)
    return sets


def _size(files: list[Path], audio: bool) -> float:
    return sum(io.audio_seconds(f) if audio else io.image_megapixels(f) for f in files)


def raw_speed(files: list[Path], out: Path) -> float:
    """Seconds to decode and encode the files one after another, no model, no threads."""
    t0 = time.perf_counter()
    for f in files:
        data = io.read_image(f)
        io.save_image(out / f.name, data, data.pixels, overwrite=True)
    return time.perf_counter() - t0


def run(model: Any, files: list[Path], out: Path, workers: int, batch: int) -> float:
    jobs = [io.Job(f, out / f.name) for f in files]
    t0 = time.perf_counter()
    results = list(denoise_paths(model, jobs, overwrite=True, workers=workers, batch_size=batch))
    bad = [r for r in results if r.status != "done"]
    if bad:
        raise SystemExit(f"{bad[0].src}: {bad[0].reason}")
    return time.perf_counter() - t0


def _row(name: str, model_name: str, files: list[Path], seconds: float, workers: Any, batch: Any, audio: bool) -> dict:
    size = _size(files, audio)
    busy = sum(BUSY.values()) or 1.0
    return {"files": name, "model": model_name, "workers": workers, "batch": batch, "files/s": len(files) / seconds,
            "MP/s": None if audio else size / seconds, "x real time": size / seconds if audio else None,
            "decode %": None if audio else 100 * BUSY["decode"] / busy,
            "model %": None if audio else 100 * BUSY["model"] / busy,
            "encode %": None if audio else 100 * BUSY["encode"] / busy}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer worker and batch settings")
    args = ap.parse_args()
    device = torch.device(args.device)
    workers = [1, 2] if args.quick else [1, 2, 4]
    batches = [1, 8] if args.quick else [1, 4, 16]
    print(f"machine: {machine()}; device {device}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = make_folders(root / "in")
        out = root / "out"
        out.mkdir()
        rows = []
        images = [k for k in sets if "wav" not in k]
        for name in images:
            with instrumented():
                rows.append(_row(name, "raw decode+encode", sets[name], raw_speed(sets[name], out), "–", "–", False))
        identity = {c: Identity("image", c).to(device) for c in (1, 3)}
        gray = checkpoint.load("image-gray", "image", device=device)
        photo = checkpoint.load("image-photo", "image", device=device)
        real = {1: gray, 3: photo}
        for name in images:
            for model_name, model in (("identity", identity), ("image-photo", real)):
                for w in workers:
                    for b in batches:
                        if model_name != "identity" and name == "25 jpeg 1024x768" and b > 1 and args.quick:
                            continue
                        with instrumented():
                            seconds = run(lambda ch, m=model: m[ch], sets[name], out, w, b)
                            rows.append(_row(name, model_name, sets[name], seconds, w, b, False))
        speech = checkpoint.load("audio-speech", "audio", device=device)
        for model_name, model in (("identity", Identity("audio", 1).to(device)), ("audio-speech", speech)):
            for b in batches:
                with instrumented():
                    seconds = run(model, sets["40 wav 10 s"], out, 1, b)
                    rows.append(_row("40 wav 10 s", model_name, sets["40 wav 10 s"], seconds, 1, b, True))
    print(table(rows, floats=1))


if __name__ == "__main__":
    main()
