"""Signals: SIGTERM and SIGHUP stop a command as Ctrl-C does, with the same clean-up and exit codes.

The command line routes them through :class:`Terminated` (a KeyboardInterrupt), so that every ``finally``
that removes a half-written temporary file runs, and exits 128 + the signal number. Training's DataLoader
workers leave them to the main process (:func:`leave_termination_to_main`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any, Callable, Iterator, NoReturn

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report
# Signals that stop a command as Ctrl-C does (kill, timeout, docker stop, a closed terminal): the CLI raises
# them as an interrupt, and training's DataLoader workers leave them to the main process. No SIGHUP on Windows.
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that the same ``finally`` blocks run: without it the process
    dies on the spot and leaves the hidden temporary file of the output being written (for audio, written
    chunk by chunk for the whole file). A KeyboardInterrupt subclass, so that every handler written for
    Ctrl-C handles it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def _redeliver_swallowed_interrupt(unraisable: Any) -> None:
    """``sys.unraisablehook``: an interrupt raised while a finaliser runs (``__del__``, such as that of the
    DataLoader worker's connection, which the garbage collector may call at any moment) is printed as
    "Exception ignored in ..." and dropped by Python, and the command would run on as if never stopped (a
    training run: until its last step). Send the signal again instead, from a thread and a moment later
    (sent from here, its handler would run inside this hook, and be dropped again), so that it is raised in
    the code that runs next. Everything else goes to the default hook."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        import os
        import threading

        signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
        resend = threading.Timer(0.01, os.kill, (os.getpid(), signum))
        resend.daemon = True  # never holds up an exit
        resend.start()
        return
    sys.__unraisablehook__(unraisable)


def catch_termination() -> None:
    """Route SIGTERM and SIGHUP through :class:`Terminated`. A signal that is already ignored (``nohup``
    ignores SIGHUP) stays ignored. An interrupt that lands in a finaliser is sent again."""
    for signum in TERMINATION_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, raise_terminated)
    sys.unraisablehook = _redeliver_swallowed_interrupt


STUCK_THREAD_SECONDS = 2.0  # how long an interrupted command waits for its other threads to end


def exit_interrupted(exc: KeyboardInterrupt, message: str = "interrupted") -> NoReturn:
    """Prints ``message`` and exits 128 + the signal number, as shells report a process killed by it: 130
    Ctrl-C, 143 SIGTERM, 129 SIGHUP.

    Python's exit waits for every thread that is not a daemon, and a reader thread blocked in ``open`` or
    ``read`` (a named pipe with no writer, a hung network share) never ends: the process would outlive the
    signal until killed with -9. So after STUCK_THREAD_SECONDS for the others to end, a process whose
    threads are still running leaves at once (``os._exit``, with its output flushed); their files are
    written atomically, so what they leave is a marked temporary file, which later runs remove."""
    import os
    import threading
    import time

    print(message, file=sys.stderr, flush=True)
    code = 128 + exc.signum if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    deadline = time.monotonic() + STUCK_THREAD_SECONDS
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in others):
        sys.stdout.flush()
        os._exit(code)
    raise SystemExit(code) from None


@contextlib.contextmanager
def exit_on_interrupt(message: str | Callable[[], str] = "interrupted") -> Iterator[None]:
    """Ctrl-C (or SIGTERM / SIGHUP) inside: print ``message`` (how to pick up where it stopped; a callable is
    asked at that moment) and exit 130 (143 / 129)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        exit_interrupted(exc, message() if callable(message) else message)


def leave_termination_to_main(worker_id: int) -> None:
    """Runs in each DataLoader worker. A kill of the whole process group (``timeout``, ``docker stop``, a
    batch scheduler) reaches the workers too, and torch's own SIGTERM handler kills a worker at once: the
    main process then fails with "DataLoader worker is killed by signal" before its clean stop. So workers
    ignore SIGTERM and SIGHUP, as torch has them ignore Ctrl-C, until the main process shuts them down (or,
    if it dies anyway, torch's watchdog sees their parent gone).

    And a main process that stops in the middle of receiving a batch breaks the worker's file-descriptor
    handshake (multiprocessing's resource sharer), whose thread would print an EOFError or
    ConnectionResetError traceback under the clean message: those two are dropped here."""
    for signum in TERMINATION_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    report = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if not issubclass(kind, (EOFError, ConnectionError)):
            report(kind, value, tb)

    sys.excepthook = excepthook
