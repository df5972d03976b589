"""The tinygrad backend. Importing this package imports tinygrad.

tinygrad's CPU device compiles every kernel with ``clang`` (Debian:
``apt-get install clang``); without it the first realize fails and every
clause is an ``error``.
"""

from conformance.backends.tinygrad._adapter import TinygradBackend

__all__ = ["TinygradBackend"]
