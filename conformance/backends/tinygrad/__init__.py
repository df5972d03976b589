"""The tinygrad backend. Importing this package imports tinygrad.

tinygrad's CPU device compiles every kernel with ``clang`` (Debian:
``apt-get install clang``); without it the first realize fails and every
clause is an ``error``.

tinygrad keeps compiled kernels in one SQLite file (``CACHEDB``), by default
``~/.cache/tinygrad/cache.db``, shared by every program of the user. Inside a
blockspec run, importing this package first points ``CACHEDB`` at the run's
own directory (``conformance._protocol.compile_cache_directory``), so one run
never reuses another's kernels unless the user asks (``--compile-cache DIR``);
a ``CACHEDB`` the user set, or a tinygrad imported before this package, stands.

tinygrad lowers and compiles kernels in a pool of spawned worker processes
(``PARALLEL``, one per core, each replaced after 16 kernels). The suite's
kernels are tiny and come one or two at a time, so the pool costs more than it
saves: a process started and tinygrad imported again every 16 kernels, and
every kernel pickled there and back. Importing this package first sets
``PARALLEL=0`` (compile in the process itself) unless the user set it; on the
2-core machine that took tinygrad's ``test_layers_and_blocks.py`` at the ci
profile from 232 s to 150 s. It also means a run starts no process of
tinygrad's own.
"""

import os
import sys

from conformance._protocol import compile_cache_directory

_cache = compile_cache_directory()
if _cache is not None and "CACHEDB" not in os.environ and "tinygrad" not in sys.modules:
    os.environ["CACHEDB"] = str(_cache / "tinygrad.db")
if "PARALLEL" not in os.environ and "tinygrad" not in sys.modules:
    os.environ["PARALLEL"] = "0"

from conformance.backends.tinygrad._adapter import TinygradBackend  # noqa: E402

__all__ = ["TinygradBackend"]
