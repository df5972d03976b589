"""Files blockspec writes: atomic (a reader sees the old file or the whole new one) and checked early."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from conformance._errors import ResultFileError


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never half.

    The text goes to a temporary file beside ``path``, is fsynced, and is
    renamed over ``path``. A new file gets the mode the umask gives (as
    ``open(path, "w")`` would, not ``mkstemp``'s private 0600); an existing
    file keeps its mode. A path that is not a regular file (``/dev/null``,
    ``/dev/stdout``, a named pipe) is written into, never replaced. Any operating-system failure (full disk,
    permissions, a directory in the way) becomes a :class:`ResultFileError`
    and leaves ``path`` untouched.
    """
    check_writable(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        existing = os.stat(path)
    except OSError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_through(path, text)  # /dev/null, /dev/stdout, a pipe: write into it, never rename over it
        return
    kept = None if existing is None else stat.S_IMODE(existing.st_mode)
    try:
        tmp, fd = _create_beside(path, directory)
    except OSError as exc:
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if kept is not None:
                os.fchmod(handle.fileno(), kept)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _write_through(path: Path, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _create_beside(path: Path, directory: Path) -> tuple[Path, int]:
    """A new ``.<name>.<random>.tmp`` in ``directory``, opened for writing, mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, where the platform allows it; a failure here loses nothing."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(path: Path) -> None:
    """Fail early, before a run, when ``path`` cannot be written."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ResultFileError(f"cannot write {path}: directory {directory} does not exist (create it first)")
    if path.is_dir():
        raise ResultFileError(f"cannot write {path}: it is a directory")
    if path.exists() and not path.is_file():  # a device or a pipe is written into: its own permission counts
        if not os.access(path, os.W_OK):
            raise ResultFileError(f"cannot write {path}: it is not writable")
        return
    if not os.access(directory, os.W_OK):
        raise ResultFileError(f"cannot write {path}: directory {directory} is not writable")
