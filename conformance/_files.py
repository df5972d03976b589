"""Files blockspec writes: atomic (a reader sees the old file or the whole new one) and checked early."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from conformance._errors import ResultFileError


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically: a reader sees the old file or the whole new one, never half.

    Any operating-system failure (full disk, permissions, a directory in the
    way) becomes a :class:`ResultFileError` and leaves ``path`` untouched.
    """
    check_writable(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ResultFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """Fail early, before a run, when ``path`` cannot be written."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ResultFileError(f"cannot write {path}: directory {directory} does not exist (create it first)")
    if path.is_dir():
        raise ResultFileError(f"cannot write {path}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise ResultFileError(f"cannot write {path}: directory {directory} is not writable")
