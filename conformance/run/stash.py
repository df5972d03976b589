"""The keys under which a run keeps its state in pytest's stashes (light: imports pytest alone)."""

from __future__ import annotations

from typing import Any

import pytest

#: Where the running session lives in ``config.stash`` (a ``BlockspecSession``; typed in ``active_session``).
SESSION_KEY: pytest.StashKey[Any] = pytest.StashKey()

NO_BACKEND = (
    "the blockspec conformance suite needs a backend: pass --blockspec-backend NAME "
    "(e.g. torch or reference), or run `blockspec run --backend NAME`"
)
