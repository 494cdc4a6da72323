"""CPU threads under load: the thread policy of denoise (one thread for small passes, the free cores for
large ones) against a fixed count of threads, on the kinds of work whose speed depended on luck.

Each workload runs as a user would run it (the `denoise` command, wall time of the whole command), with
``--load N`` busy processes beside it (default 1: one core of a 2-core machine taken by other work, as
a training run takes it), three times; the table gives the median. Fixed counts are forced with
DENOISE_THREADS; "policy" is what `denoise` chooses itself.

    python benchmarks/threads.py               # one busy process beside each run
    python benchmarks/threads.py --load 0      # an idle machine
    python benchmarks/threads.py --loop 6      # a shell loop: the 1024² picture 6 times back to back

``--loop N`` starts from an idle machine (wait a few minutes after other work: the load average is a
trailing mean) and runs the one-picture command N times in a row, each time with the policy (and -v, to
read the threads it chose from its log) and then with every core: the thread rule should not mistake
the previous run for other work.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, parser, table  # noqa: E402


def _inputs(folder: Path) -> dict[str, list[str]]:
    """The workloads: 200 pictures of 64², one 1024² picture, a 5 s 48 kHz recording through --stream."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    rng = np.random.default_rng(0)
    tiny = folder / "tiny"
    tiny.mkdir()
    for i in range(200):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(tiny / f"{i}.png")
    Image.fromarray((rng.random((1024, 1024, 3)) * 255).astype(np.uint8)).save(folder / "big.png")
    sf.write(folder / "clip.wav", (0.1 * rng.standard_normal(5 * 48000)).astype(np.float32), 48000)
    cli = [sys.executable, "-m", "denoise"]
    return {
        "200 pictures of 64²": cli + ["image", str(tiny), "-o", str(folder / "out"), "-q", "--overwrite"],
        "one 1024² picture": cli + ["image", str(folder / "big.png"), "-o", str(folder / "big.out.png"), "-q",
                                   "--overwrite"],
        "5 s at 48 kHz, --stream": cli + ["audio", "-", "--stream", "-q"],
    }


def _time(cmd: list[str], threads: str, stdin: Path, log: Path | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DENOISE_THREADS")}
    if threads != "policy":
        env["DENOISE_THREADS"] = threads
    with open(stdin, "rb") as f, open(log or os.devnull, "w") as err:
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdin=f if "--stream" in cmd else subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=err if log else None, check=True)
    return time.perf_counter() - t0


def loop_rows(n: int) -> list[dict]:
    """The one-picture command ``n`` times in a row, each time with the policy and then on every core,
    both with ``-v`` (which also estimates the noise before and after), so the log says what the policy
    chose."""
    cores = str(os.cpu_count())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = _inputs(Path(tmp))["one 1024² picture"]
        verbose = [a for a in cmd if a != "-q"] + ["-v"]
        log = Path(tmp) / "log.txt"
        for i in range(n):
            policy = _time(verbose, "policy", Path(tmp) / "clip.wav", log)
            chosen = re.findall(r"CPU threads: (\d+)", log.read_text())
            every_core = _time(verbose, cores, Path(tmp) / "clip.wav", log)
            rows.append({"run": i + 1, "threads chosen": ", ".join(dict.fromkeys(chosen)) or "torch's default",
                         "denoise policy (s)": policy, f"{cores} thread(s) (s)": every_core})
    return rows


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--load", type=int, default=1, help="Busy processes beside each run.")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--loop", type=int, default=0, help="Instead: the 1024² picture this many times in a row.")
    args = p.parse_args()
    if args.loop:
        print(f"{machine()}; one 1024² picture {args.loop} times in a row, no other work\n")
        print(table(loop_rows(args.loop)))
        return
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = _inputs(Path(tmp))
            rows = []
            for name, cmd in work.items():
                arms = ("policy", "1", str(os.cpu_count()))
                times: dict[str, list[float]] = {t: [] for t in arms}
                for _ in range(args.repeat):  # the arms take turns: a slow spell of the machine hits all alike
                    for threads in arms:
                        times[threads].append(_time(cmd, threads, Path(tmp) / "clip.wav"))
                rows.append({"work": name, **{f"{'denoise policy' if t == 'policy' else t + ' thread(s)'} (s)":
                                              statistics.median(v) for t, v in times.items()}})
    finally:
        for b in busy:
            b.kill()
    print(f"{machine()}; {args.load} busy process(es) beside each run; median of {args.repeat}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
