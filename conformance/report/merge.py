"""Merge result files from many machines into one set of columns.

A column is one (backend, device, version). Two files claiming the same
column are an error, unless one started later: the newer one wins and the
older is kept as *superseded* (shown on the page and in trends, never in the
matrix). Runs of one backend and device at several versions or dates make its
history, oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from conformance._errors import ResultFileError
from conformance.report.loader import Run


class DuplicateRunError(ResultFileError):
    """Two result files claim the same backend, device and version, and neither is newer."""

    def __init__(self, first: Run, second: Run) -> None:
        self.first, self.second = first, second
        when = f"both started {first.started_text}" if first.started_text else "neither has a start time"
        super().__init__(
            f"{first.source} and {second.source} both claim backend {first.backend!r} {first.version!r} "
            f"on device {first.device!r}, and {when}; pass only one of them"
        )


@dataclass(frozen=True)
class Supersession:
    """``older`` was dropped from the matrix because ``newer`` checked the same column later."""

    newer: Run
    older: Run

    @property
    def message(self) -> str:
        return (
            f"{self.older.source} ({self.older.started_text}) is superseded by the newer {self.newer.source} "
            f"({self.newer.started_text}) for {self.newer.label}"
        )


@dataclass(frozen=True)
class Merged:
    """The columns of a dashboard, what was dropped, and every run per backend and device."""

    columns: tuple[Run, ...]
    superseded: tuple[Supersession, ...]
    history: dict[tuple[str, str], tuple[Run, ...]]

    @property
    def trends(self) -> dict[tuple[str, str], tuple[Run, ...]]:
        """Histories with more than one run: something to compare."""
        return {key: runs for key, runs in self.history.items() if len(runs) > 1}


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort ``2.10`` after ``2.9``: digit runs compare as numbers (of any length, never converted to int)."""
    return tuple(number_key(part) for part in re.findall(r"\d+|\D+", text))


def number_key(part: str) -> tuple[int, int, str]:
    """A key that orders runs of digits as numbers and puts other text after them.

    Digits are compared by length without leading zeros, then as text: the
    order of ``int()``, without its limit of 4300 digits (a hostile file may
    hold a section ``4.<5000 digits>``).
    """
    if part.isdigit() and part.isascii():
        digits = part.lstrip("0")
        return (0, len(digits), digits)
    return (1, 0, part)


def _started_key(run: Run) -> tuple[int, float, str]:
    return (0, 0.0, "") if run.started is None else (1, run.started.timestamp(), run.started_text)


def merge_runs(runs: Sequence[Run]) -> Merged:
    """Columns sorted by backend, device and version; raises :class:`DuplicateRunError` on a tie."""
    by_key: dict[tuple[str, str, str], Run] = {}
    superseded: list[Supersession] = []
    for run in runs:
        other = by_key.get(run.key)
        if other is None:
            by_key[run.key] = run
            continue
        if run.started is None or other.started is None or run.started == other.started:
            raise DuplicateRunError(other, run)
        newer, older = (run, other) if run.started > other.started else (other, run)
        by_key[run.key] = newer
        superseded.append(Supersession(newer, older))
    # A file superseded twice (three runs of one column) is reported against the final winner.
    final = [Supersession(by_key[s.older.key], s.older) for s in superseded]
    columns = sorted(by_key.values(), key=lambda r: (r.backend, r.device, natural_key(r.version), _started_key(r)))
    history: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        history.setdefault((run.backend, run.device), []).append(run)
    ordered = {
        key: tuple(sorted(group, key=lambda r: (_started_key(r), natural_key(r.version))))
        for key, group in sorted(history.items())
    }
    return Merged(tuple(columns), tuple(sorted(final, key=lambda s: str(s.older.source))), ordered)
