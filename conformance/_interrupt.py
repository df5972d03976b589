"""Telling the user's Ctrl-C from a ``KeyboardInterrupt`` that a backend raises itself.

Python raises ``KeyboardInterrupt`` for a SIGINT, but any code may raise it
too. ``blockspec`` installs :func:`install`'s handler, which notes that a
real SIGINT arrived before raising; :func:`user_interrupted` then says
whether an interrupt came from the user. A backend's own
``KeyboardInterrupt`` (at import, in a test) is a backend failure, not a
reason to stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_received = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _received.set()
    raise KeyboardInterrupt


def install() -> None:
    """Note every SIGINT from now on (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)


def user_interrupted() -> bool:
    """True once a real SIGINT (Ctrl-C) has arrived in this process."""
    return _received.is_set()


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived: exit status 128 + the signal; ``name`` is the signal's name."""

    def __init__(self, signum: int) -> None:
        self.name = signal.Signals(signum).name
        super().__init__(128 + signum)


@contextlib.contextmanager
def signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` (``SystemExit(128 + signal)``) inside the block, so cleanup runs on the way out.

    Python's default for either ends the process at once, ``finally`` blocks
    skipped: a run's temporary directories and child processes would be left
    behind. Handlers can only be set from the main thread; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_signal(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    catchable = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, exit_on_signal) for s in catchable}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
