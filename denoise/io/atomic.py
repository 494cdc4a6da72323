"""Atomic outputs: a hidden temporary file in the destination folder, fsync, then one rename; and the
removal of temporary files that killed runs left behind, never a live run's (here or on another host)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import zlib
from pathlib import Path
from typing import Iterator

from denoise.io.base import InputError, OutputExists

log = logging.getLogger("denoise.io")


def _machine_id() -> str:
    """8 hex digits naming this machine, boot and PID namespace: two containers, or two hosts of a cluster,
    writing into one shared folder get different ones, so neither mistakes the other's live temporary
    files for its own dead ones (a PID means nothing outside its namespace)."""
    parts = [os.uname().nodename]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        with contextlib.suppress(OSError):
            parts.append(os.readlink(source) if source.endswith("/pid") else Path(source).read_text().strip())
    return f"{zlib.crc32('|'.join(parts).encode()) & 0xFFFFFFFF:08x}"


MACHINE_ID = _machine_id()
# A temporary file of another machine (or of an older denoise, whose names had no machine identity) is only
# removed once untouched this long: a live run rewrites its file at least every chunk or tile.
FOREIGN_TEMP_AGE = 24 * 3600.0


def create_temp(directory: Path, stem: str, suffix: str) -> Path:
    """Creates a new empty hidden file in ``directory`` and returns its path. Unlike ``mkstemp`` (always
    0600) the mode follows the umask, so the final file gets the permissions of any normally created file.
    The name holds this tool's mark, :data:`MACHINE_ID` and the PID, for :func:`remove_stale_temps`, which
    removes no file without the mark: another program's hidden files are never touched."""
    for _ in range(100):
        path = Path(directory) / (f".{stem[:40]}.{TEMP_MARK}-{os.getpid()}-{MACHINE_ID}-{os.urandom(6).hex()}"
                                  f".tmp{suffix}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {directory}")


TEMP_MARK = "denoise"  # in every temporary name this tool makes, and required of any it removes
_TEMP_NAME = re.compile(r"^\..*\." + TEMP_MARK + r"-(\d+)-([0-9a-f]{8})-[0-9a-f]{12}\.tmp(\.[^.]*)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists but belongs to someone else
        pass
    return True


def owner_gone(pid: int, machine: str, path: str, now: float) -> bool:
    """Whether the process ``pid`` of machine ``machine`` that made ``path`` is provably gone: on this
    machine (same identity), no such process; elsewhere, ``path`` untouched for :data:`FOREIGN_TEMP_AGE`."""
    if machine == MACHINE_ID:
        return pid != os.getpid() and not _pid_alive(pid)
    try:
        return now - os.stat(path).st_mtime > FOREIGN_TEMP_AGE
    except OSError:
        return False


def _is_dead_temp(directory: str, name: str, now: float) -> bool:
    """Whether ``name`` is a temporary file of :func:`create_temp` (it bears :data:`TEMP_MARK`) whose
    writer is provably gone (:func:`owner_gone`)."""
    m = _TEMP_NAME.match(name)
    if not m:
        return False
    return owner_gone(int(m.group(1)), m.group(2), os.path.join(directory, name), now)


def remove_stale_temps(directory: Path) -> int:
    """Deletes temporary files that a killed run (kill -9, power cut) left in ``directory`` (see
    :func:`_is_dead_temp`); a live run's files, here or on another machine sharing the folder, are left
    alone. Returns how many were removed."""
    import time

    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    now = time.time()
    for name in names:
        if _is_dead_temp(str(directory), name, now):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
                removed += 1
    if removed:
        log.info("removed %d stale temporary file(s) in %s", removed, directory)
    return removed


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_file(dst: Path, overwrite: bool) -> None:
    """Raises, before any work, if the file ``dst`` could not be written: InputError for a directory or a
    folder that cannot be written (the OS's reason, with the path), OutputExists for an existing file
    without ``overwrite``."""
    dst = Path(dst)
    if dst.is_dir():
        raise InputError(f"{dst} is a directory, not a file")
    if dst.exists() and not overwrite:
        raise OutputExists(dst)
    folder = dst.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        create_temp(folder, dst.stem, dst.suffix).unlink()
    except OSError as exc:
        raise InputError(f"cannot write {dst}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_output(dst: Path, overwrite: bool) -> Iterator[Path]:
    """Yields a temporary path in ``dst``'s directory; on success moves it to ``dst`` in one rename.

    Without ``overwrite`` the move is a hard link, which fails if ``dst`` appeared in the meantime, so a
    file is never replaced by accident. On any error the temporary file is removed: no partial output.
    The temporary name starts with '.' so directory scans never pick it up.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir():
        raise InputError(f"{dst} is a directory, not a file")
    if dst.exists() and not overwrite:
        raise OutputExists(dst)
    tmp = create_temp(dst.parent, dst.stem, dst.suffix)
    try:
        yield tmp
        fsync_file(tmp)  # the data reach the disk before the name does
        if overwrite:
            os.replace(tmp, dst)
        else:
            try:
                os.link(tmp, dst)
            except FileExistsError:
                raise OutputExists(dst) from None
            except OSError:  # file systems without hard links
                if dst.exists():
                    raise OutputExists(dst) from None
                os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


CLAIM_SUFFIX = ".denoise-claim"


def claim_path(dst: Path) -> Path:
    """The hidden file beside ``dst`` that says which process is computing it (scans skip hidden files)."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}{CLAIM_SUFFIX}")


def try_claim(dst: Path) -> bool:
    """Claims the output ``dst`` for this process, so that runs sharing a folder (``--skip-existing``) split
    the work instead of computing the same files: True when the claim file was created here (exclusively),
    False when a live process holds it. A claim whose owner is provably gone (:func:`owner_gone`) is
    taken over."""
    import time

    path = claim_path(dst)
    for _ in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # the output's folder may not exist yet
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                pid, machine = path.read_text().split()[:2]
                gone = owner_gone(int(pid), machine, str(path), time.time())
            except (OSError, ValueError):  # being written this instant, or vanished: try again
                gone = False
            if not gone:
                return False
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        except OSError:  # a folder that cannot be written: nothing to split; writing the output says why
            return True
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {MACHINE_ID}\n")
        return True
    return False


def release_claim(dst: Path) -> None:
    """Removes this process's claim on ``dst``, if it holds one (another process's is left alone)."""
    path = claim_path(dst)
    with contextlib.suppress(OSError, ValueError):
        if path.read_text().split()[:2] == [str(os.getpid()), MACHINE_ID]:
            path.unlink()
