"""SIGTERM and SIGHUP (``kill``, ``timeout``, ``docker stop``, a batch scheduler, a closed terminal) end a
command the way Ctrl-C (SIGINT) does: the partial output is removed, the message says how to go on, and the
exit status is 128 + the signal. The signal goes to the whole process group, as those tools send it, so that
training's DataLoader worker receives it too. Real processes: signal handlers cannot be tested in-process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import gray_pngs

pytestmark = pytest.mark.slow  # every test here runs the CLI in a child process and signals it


def _sigint_as_in_a_terminal() -> None:
    """preexec_fn: a shell starts background jobs (``.ci/run &``) with SIGINT ignored, which the children
    inherit and Python then leaves ignored; the tests that send SIGINT need it as a terminal has it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "denoise", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=_sigint_as_in_a_terminal)


def _kill_after_line(p: subprocess.Popen, starts: str, signum: int = signal.SIGTERM) -> str:
    """Reads the output until a line that starts with ``starts``, sends ``signum`` to the process group,
    and returns all the output."""
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.startswith(starts):
            os.killpg(p.pid, signum)
            break
    else:
        raise AssertionError("the command ended before: " + starts + "\n" + "".join(seen))
    rest, _ = p.communicate(timeout=60)
    return "".join(seen) + rest


def test_sigterm_while_audio_is_streamed_leaves_no_partial_file(tmp_path, audio_ckpt):
    # ten minutes of audio: the output's temporary file is written chunk by chunk for several seconds
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "long.wav", (0.05 * rng.standard_normal(16000 * 600)).astype(np.float32), 16000,
             subtype="PCM_16")
    out = tmp_path / "out"
    p = _start("audio", tmp_path / "long.wav", "-o", out, "--model", audio_ckpt)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.iterdir())):
        assert p.poll() is None, "finished before its temporary file was seen: " + p.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert all(f.name.startswith(".") for f in out.iterdir())  # only the hidden temporary file so far
    os.killpg(p.pid, signal.SIGTERM)
    output, _ = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, output
    assert "interrupted" in output and "--skip-existing" in output and "Traceback" not in output
    assert list(out.iterdir()) == []


def _images(folder: Path) -> Path:
    return gray_pngs(folder)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_a_training_run_and_its_worker_says_how_to_resume(tmp_path, signum):
    data = _images(tmp_path / "data")
    common = ["train", "--domain", "image", "--data", data, "--batch-size", "2", "--patch-size", "32",
              "--arch-args", '{"width": 4}', "--workers", "1", "--steps", "100000"]
    # the worker leaves the signal to the main process, which stops cleanly instead of failing with
    # "DataLoader worker ... is killed by signal" (SIGTERM), and stays quiet (a batch in transfer)
    p = _start(*common, "--out", tmp_path / "run", "--eval-every", "1")
    output = _kill_after_line(p, "step 2/", signum)
    assert p.returncode == 128 + signum, output
    assert "continue with --resume" in output and "Traceback" not in output and "DataLoader" not in output
    run = tmp_path / "run"
    assert (run / "last.pt").is_file() and not [f for f in run.iterdir() if f.name.startswith(".")]


def test_an_ignored_sighup_stays_ignored():
    # nohup ignores SIGHUP so that the command outlives its terminal: the CLI must not undo that
    code = ("import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\nfrom denoise import signals\n"
            "signals.catch_termination()\n"
            "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, "
            "signal.getsignal(signal.SIGTERM) is signals.raise_terminated)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["True", "True"], r.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_that_lands_in_a_finaliser_still_stops_the_command(signum):
    # Python drops an exception raised in __del__ ("Exception ignored in ..."): a SIGTERM that arrived
    # while the DataLoader worker's connection was finalised left a training run going on to its last step
    code = f"""
import os, sys, time
from denoise import signals
signals.catch_termination()

class Finalised:
    def __del__(self):
        os.kill(os.getpid(), {int(signum)})
        for _ in range(10**5):  # the handler runs here, inside __del__
            pass

try:
    Finalised()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass
    print("ran on")
except KeyboardInterrupt as exc:
    print("stopped", getattr(exc, "signum", 2))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       preexec_fn=_sigint_as_in_a_terminal)
    assert r.stdout.split() == ["stopped", str(int(signum))], r.stdout + r.stderr
    assert "Exception ignored" not in r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_sigterm_ends_a_run_whose_reader_thread_is_blocked(tmp_path, gray_ckpt):
    """A picture whose read never returns (here: a named pipe with no writer, opened by the decoding
    thread; on a hung network share the same) used to hold the process after SIGTERM until kill -9: the
    thread pool waited for its thread, and so did Python's exit."""
    folder = gray_pngs(tmp_path / "in", n=1)
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    started = tmp_path / "reading"
    script = tmp_path / "blocked.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nimport denoise.io as dio\n"
        "read = dio.read_image\n"
        "def blocked(path, *a, **k):\n"
        f"    Path({str(started)!r}).touch()\n"
        f"    open({str(fifo)!r}).read()\n"
        "    return read(path, *a, **k)\n"
        "dio.read_image = blocked\n"
        "from denoise.cli import main\n"
        f"sys.argv = ['denoise', 'image', {str(folder)!r}, '-o', {str(tmp_path / 'out')!r}, '--model', "
        f"{str(gray_ckpt)!r}]\n"
        "main()\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert p.poll() is None and time.monotonic() < deadline, p.stdout.read() if p.poll() is not None else ""
        time.sleep(0.05)
    time.sleep(0.3)  # inside open() now
    os.killpg(p.pid, signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise AssertionError("still running 60 s after SIGTERM")
    assert p.returncode == 128 + signal.SIGTERM and "interrupted" in out and "Traceback" not in out
