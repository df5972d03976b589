"""The child's side of an isolated run: the journal, one JSON line per event, flushed as it goes.

The session (``conformance.run.session``) hands every event to the
journal; the parent (``conformance.run.isolate``) reads the lines back and
applies them to its own ledger. A line reaches the kernel before the next
test starts, so a child that dies leaves every earlier event behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


class Journal:
    """A sink writing each event as one JSON line to ``path``."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("a", encoding="utf-8", errors="backslashreplace")

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(event) + "\n")
        self.handle.flush()  # into the kernel: it survives the process dying
        if event["event"] == "end":
            self.handle.close()

    @staticmethod
    def refuse(path: Path, message: str) -> None:
        """Record that the child could not start the run (a usage error the parent reports as such)."""
        with path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(json.dumps({"event": "refused", "message": message}) + "\n")
