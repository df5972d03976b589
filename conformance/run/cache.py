"""The compile cache a run hands its framework: fresh per run unless the user names one.

A framework that compiles per shape (JAX, tinygrad) can keep what it compiled
on disk. The run creates a directory and names it in the environment
variable :data:`CACHE_ENV` before anything imports the backend, so the
isolating child, every ``-n`` worker and a child restarted after a crash share
it; the adapter points its framework's cache there when it is imported
(``conformance/backends/flax``: JAX's persistent compilation cache;
``conformance/backends/tinygrad``: tinygrad's ``CACHEDB``). The directory is
removed when the run ends, so no run sees another's compiled code, unless the
user asks for one with ``--compile-cache DIR``, which is kept and reused. It is
named for the run's process (``blockspec-compile-cache-<pid>-*``), so the next
run removes one that a SIGKILLed run left behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance._errors import UsageError
from conformance._files import make_run_directory
from conformance._protocol import COMPILE_CACHE_ENV as CACHE_ENV


@contextmanager
def compile_cache(keep: Path | None = None) -> Iterator[Path]:
    """Name a compile-cache directory in :data:`CACHE_ENV` for the run inside the block.

    ``keep`` is the user's directory (created if missing, never removed);
    without it a fresh directory is made and removed afterwards.
    """
    previous = os.environ.get(CACHE_ENV)
    if keep is not None:
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--compile-cache {keep}: cannot make the directory ({exc.strerror or exc})") from None
        directory = keep.resolve()
    else:
        directory = make_run_directory("compile-cache")
    os.environ[CACHE_ENV] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)
