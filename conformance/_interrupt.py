"""Telling the user's Ctrl-C from a ``KeyboardInterrupt`` that a backend raises itself.

Python raises ``KeyboardInterrupt`` for a SIGINT, but any code may raise it
too. ``blockspec`` installs :func:`install`'s handler, which notes that a
real SIGINT arrived before raising; :func:`user_interrupted` then says
whether an interrupt came from the user. A backend's own
``KeyboardInterrupt`` (at import, in a test) is a backend failure, not a
reason to stop.
"""

from __future__ import annotations

import signal
import threading
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
