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
"""

import os
import sys

from conformance._protocol import compile_cache_directory

_cache = compile_cache_directory()
if _cache is not None and "CACHEDB" not in os.environ and "tinygrad" not in sys.modules:
    os.environ["CACHEDB"] = str(_cache / "tinygrad.db")

from conformance.backends.tinygrad._adapter import TinygradBackend  # noqa: E402

__all__ = ["TinygradBackend"]
