"""Live progress of an isolated run: a rich line on a terminal, plain lines in CI logs."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

from conformance._text import neutral
from conformance.run.result import TestOutcome

#: How a finished test's outcome reads in a progress line.
_WORDS = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "xfail": "xfail"}


class Reporter(Protocol):
    """Receives the run's events as the parent reads them from the journal."""

    def collected(self, total: int) -> None: ...
    def started(self, nodeid: str, clause: str) -> None: ...
    def finished(self, clause: str, outcome: TestOutcome) -> None: ...
    def close(self) -> None: ...


def make_reporter() -> Reporter:
    """Rich's live progress when stdout is a terminal and rich is installed, else plain lines."""
    if sys.stdout.isatty():
        try:
            return RichReporter()
        except ImportError:
            pass
    return PlainReporter()


class PlainReporter:
    """One line per finished test: ``[ 12/93] pass  SEQ-INDEX  test_x.py::test_y  (0.21 s; 3.4 s elapsed)``."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.clock = time.monotonic()

    def collected(self, total: int) -> None:
        self.total = max(self.total, total)

    def started(self, nodeid: str, clause: str) -> None:
        pass

    def finished(self, clause: str, outcome: TestOutcome) -> None:
        self.done += 1
        word = _WORDS.get(outcome.outcome, outcome.outcome)
        width = len(str(self.total))
        test = outcome.nodeid.rpartition("/")[2]
        print(
            neutral(
                f"[{self.done:>{width}}/{self.total}] {word:14} {clause:26} {test}  "
                f"({outcome.duration_s:.2f} s; {time.monotonic() - self.clock:.1f} s elapsed)"
            ),
            flush=True,
        )

    def close(self) -> None:
        pass


class RichReporter:
    """A live bar: the clause being checked, done/total and the elapsed time."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress: Any = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        self.task: Any = None
        self.failures: list[str] = []

    def collected(self, total: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("collecting", total=total)

    def started(self, nodeid: str, clause: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=clause or nodeid.rpartition("::")[2])

    def finished(self, clause: str, outcome: TestOutcome) -> None:
        if self.task is not None:
            self.progress.advance(self.task)
        if outcome.outcome in ("failed", "error"):
            self.progress.console.print(
                neutral(f"{_WORDS[outcome.outcome]:6} {clause}: {outcome.message.partition(chr(10))[0]}"),
                markup=False,
                highlight=False,
            )

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None
