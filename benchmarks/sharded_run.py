"""Sharded inference end to end on the CPU: 2 torchrun ranks on a folder of 200 pictures.

1. A full run: every picture must be written by exactly one rank (from the ranks' -v lines), and rank 0's
   summary must count all 200.
2. A killed run: one rank is killed (SIGKILL) once some outputs exist; torchrun then stops the other. The
   same command with --skip-existing must finish the job: every picture written, none twice.

    python benchmarks/sharded_run.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser  # noqa: E402


def _command(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29611",
            "-m", "denoise", "image", str(root / "in"), "-o", str(root / "out"), "--model", "image-gray", "-v",
            *extra]


def _written(log: str) -> list[str]:
    return re.findall(r"INFO: denoise: (\S+) -> ", log)


def main() -> None:
    parser(__doc__).parse_args()
    from PIL import Image

    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        rng = np.random.default_rng(0)
        for i in range(200):
            side = int(rng.integers(48, 160))
            Image.fromarray((rng.random((side, side)) * 255).astype(np.uint8)).save(root / "in" / f"{i:03d}.png")
        t0 = time.perf_counter()
        full = subprocess.run(_command(root), capture_output=True, text=True)
        names = _written(full.stderr)
        print(f"full run: exit {full.returncode} in {time.perf_counter() - t0:.1f} s; {len(names)} writes, "
              f"{len(set(names))} distinct; summary: {full.stderr.strip().splitlines()[-1]}")
        for p in (root / "out").iterdir():
            p.unlink()
        run = subprocess.Popen(_command(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while len(list((root / "out").glob("*.png"))) < 60:
            time.sleep(0.05)
        workers = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
        subprocess.run(["kill", "-s", "KILL", workers[-1]])
        first = _written(run.communicate()[1])
        before = len(list((root / "out").glob("*.png")))
        print(f"killed one rank: torchrun exit {run.returncode}; {before} outputs exist")
        again = subprocess.run(_command(root, "--skip-existing"), capture_output=True, text=True)
        second = _written(again.stderr)
        outputs = sorted(p.name for p in (root / "out").glob("*.png"))
        print(f"rerun with --skip-existing: exit {again.returncode}; {len(second)} written; "
              f"summary: {again.stderr.strip().splitlines()[-1]}")
        print(f"after both: {len(outputs)} of 200 outputs; written twice: {len(set(first) & set(second))}; "
              f"no temporary files left: {not list((root / 'out').glob('.*'))}")


if __name__ == "__main__":
    main()
