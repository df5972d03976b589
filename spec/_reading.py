"""Reading a file that may be hostile: a regular file only, of bounded size, as UTF-8.

Every file blockspec reads on a user's behalf (clause TOML, known-failure
manifests, result files, coverage reports) goes through
:func:`read_text_bounded`, so a symlink to ``/dev/zero``, a FIFO no one
writes to, or a file of many gigabytes ends in a message, never in a hang
or an exhausted memory.

>>> from pathlib import Path
>>> read_text_bounded(Path("/dev/zero"), 1024)  # doctest: +SKIP
Traceback (most recent call last):
spec._reading.RefusedFile: is not a regular file (a character device)
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Result files and coverage reports larger than this are refused (a full run writes well under 1 MiB).
MAX_RESULT_BYTES = 64 * 2**20
#: Clause TOML files and known-failure manifests larger than this are refused (they are written by hand).
MAX_TOML_BYTES = 8 * 2**20

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO, a named pipe",
    stat.S_IFSOCK: "a socket",
}


class RefusedFile(OSError):
    """A file that is not read: not a regular file, or over the size limit.

    An :class:`OSError`, so that callers which already turn "cannot be read"
    into a message need nothing new; ``str()`` is the problem alone.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


def read_text_bounded(path: Path, limit: int) -> str:
    """The UTF-8 text of ``path``, a regular file of at most ``limit`` bytes.

    Raises :class:`RefusedFile` for anything else (a FIFO is never waited
    on: it is opened non-blocking and refused), the usual :class:`OSError`
    subclasses for a missing or unreadable file, :class:`UnicodeDecodeError`
    for text that is not UTF-8. A symlink loop is a :class:`RefusedFile`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedFile("is a symlink loop (too many levels of symbolic links)") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise RefusedFile(f"is not a regular file ({kind})")
        if info.st_size > limit:
            raise RefusedFile(f"is {info.st_size} bytes, over the {limit}-byte limit for this kind of file")
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise RefusedFile(f"is over the {limit}-byte limit for this kind of file")
    return data.decode("utf-8")


#: How deeply a TOML file may nest arrays and inline tables (blockspec's own files nest 2 deep).
MAX_TOML_DEPTH = 64


def toml_nesting(text: str) -> int:
    """How deeply ``text`` nests ``[...]`` arrays and ``{...}`` inline tables, strings and comments aside.

    Checked before parsing: Python's TOML parser recurses once per level, so
    how deep it can go depends on the recursion limit of the moment.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            end = text.find(quote, i + len(quote))
            while quote == '"' and end > 0 and text[end - 1] == "\\":  # an escaped quote in a basic string
                end = text.find(quote, end + 1)
            i = n if end < 0 else end + len(quote)
            at_line_start = False
            continue
        if c == "#":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if c == "\n":
            at_line_start = True
        elif c in "[{" and not (c == "[" and at_line_start and depth == 0):  # a [table] header is no nesting
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}" and depth:
            depth -= 1
        elif not c.isspace():
            at_line_start = False
        i += 1
    return deepest


def load_toml_bounded(path: Path) -> dict[str, object]:
    """Read and parse a TOML file of at most :data:`MAX_TOML_BYTES`, nesting at most :data:`MAX_TOML_DEPTH` deep.

    Raises ``ValueError`` (with the reason) for too deep a file, as ``tomllib`` does for a malformed one.
    """
    import tomllib

    text = read_text_bounded(path, MAX_TOML_BYTES)
    deepest = toml_nesting(text)
    if deepest > MAX_TOML_DEPTH:
        raise ValueError(f"it nests arrays or tables too deeply ({deepest} levels; at most {MAX_TOML_DEPTH})")
    return tomllib.loads(text)
