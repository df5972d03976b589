"""Files blockspec writes: atomic (a reader sees the old file or the whole new one) and checked early."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from conformance._errors import ResultFileError


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never half.

    The text goes to a temporary file beside ``path``, is fsynced, and is
    renamed over ``path``. A new file gets the mode the umask gives (as
    ``open(path, "w")`` would, not ``mkstemp``'s private 0600); an existing
    file keeps its mode. ``/dev/null`` and ``/dev/stdout`` are written into,
    never replaced; any other path that is not a regular file is refused
    (:func:`check_writable`). Any operating-system failure (full disk,
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
        _write_through(path, text)  # /dev/null, /dev/stdout: write into it, never rename over it
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


#: Output paths that are not regular files and are still accepted: written into, never replaced.
STREAMS = ("/dev/null", "/dev/stdout")

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO): nothing may be waiting to read it, and a run would hang on it"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_writable(path: Path) -> None:
    """Fail early, before a run, when ``path`` cannot be written as an output.

    Accepted: a regular file (existing, or new in an existing writable
    directory), and :data:`STREAMS` by name. Refused: a directory, a named
    pipe, any other device or socket, a symlink loop: none can receive a
    whole file, and a pipe without a reader would block the run forever.
    """
    if str(path) in STREAMS:
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ResultFileError(f"cannot write {path}: it is a symlink loop") from None
        info = None  # a parent that is not a directory, say: reported below
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ResultFileError(f"cannot write {path}: it is a directory")
        for test, kind in _KINDS:
            if test(info.st_mode):
                raise ResultFileError(
                    f"cannot write {path}: it is {kind}; write to a regular file, or to {' or '.join(STREAMS)}"
                )
    if not directory.is_dir():
        raise ResultFileError(f"cannot write {path}: directory {directory} does not exist (create it first)")
    if not os.access(directory, os.W_OK):
        raise ResultFileError(f"cannot write {path}: directory {directory} is not writable")


def check_distinct(paths: dict[str, Path | None]) -> None:
    """Two outputs of one command must not name one file (the second would overwrite the first).

    ``paths`` maps an option (``--json``) to its path; ``/dev/null`` may be named by several.
    """
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None or str(path) == os.devnull:
            continue
        key = os.path.realpath(path)
        with contextlib.suppress(OSError):
            info = os.stat(path)
            key = f"{info.st_dev}:{info.st_ino}"  # a hard link is the same file under another name
        if key in seen:
            raise ResultFileError(f"{seen[key]} and {option} both name {path}: give each output a file of its own")
        seen[key] = option


#: What the temporary directories of a run are called: ``blockspec-<kind>-<process id>-<random>``.
_RUN_DIR = re.compile(r"blockspec-(?:run|compile-cache)-(\d+)-[A-Za-z0-9_]+")


def make_run_directory(kind: str) -> Path:
    """A new temporary directory named for this process, after removing those of runs that are gone.

    A run removes its directories on every way out but SIGKILL; a killed run's are found by the
    process id in their name (no such process any more) and removed by the next run.
    """
    remove_stale_run_directories()
    return Path(tempfile.mkdtemp(prefix=f"blockspec-{kind}-{os.getpid()}-"))


@contextlib.contextmanager
def run_directory(kind: str) -> Iterator[Path]:
    """:func:`make_run_directory`, removed with all it holds when the block ends, however it ends."""
    path = make_run_directory(kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_run_directories(parent: Path | None = None) -> list[Path]:
    """Remove the run directories in ``parent`` (the temp dir) whose run has ended; return them."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    removed = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            match = _RUN_DIR.fullmatch(entry.name)
            if match is None or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                    continue  # another user's run
                if _process_exists(int(match.group(1))):
                    continue
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True
