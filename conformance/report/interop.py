"""Checkpoint interop in reports: the writer × reader matrix of the pairs' results.

A result of an interop file (``blockspec interop --json``) is a :class:`~conformance.report.loader.Run`
whose ``pair`` is ``(writer, reader)``. The Markdown report shows the clause counts of every pair as one
matrix, and lists each pair that does not pass; the dashboard shows one matrix per INTEROP clause, a
status per cell. Writers are rows, readers columns; the diagonal (a backend reading its own file) is
the chapter's own 4.4 round trip, shown as ``·``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from conformance._interop import split_pair
from conformance.report.loader import Run


def cell(counts: Mapping[str, int]) -> str:
    """``{"pass": 4, "xfail": 1}`` -> ``"4 pass, 1 xfail"`` (zero counts left out)."""
    shown = [f"{n} {status}" for status, n in counts.items() if n]
    return ", ".join(shown) or "no clause"


def sides(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Every backend named by ``pairs``, in order of first appearance: the rows and columns of a matrix."""
    names: list[str] = []
    for writer, reader in pairs:
        names += [n for n in (writer, reader) if n not in names]
    return names


def matrix_markdown(pairs: Sequence[tuple[str, Mapping[str, int]]], shown: Callable[[str], str] = str) -> str:
    """A Markdown table, writers down and readers across, of each pair's clause counts (``·`` on the diagonal).

    ``shown`` turns a backend name into table text (the report escapes names read from files with it).
    """
    cells = {split_pair(name): counts for name, counts in pairs}
    names = sides(list(cells))
    lines = ["| writer \\ reader | " + " | ".join(shown(n) for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for writer in names:
        row = [
            "·" if writer == reader else cell(cells[writer, reader]) if (writer, reader) in cells else ""
            for reader in names
        ]
        lines.append(f"| {shown(writer)} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def pair_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs that are results of an interop file."""
    return [run for run in runs if run.pair is not None]


@dataclass(frozen=True)
class PairCell:
    """One pair's verdict of one INTEROP clause in the dashboard's matrix; ``run`` is its 1-based column."""

    run: int
    status: str
    reason: str


@dataclass(frozen=True)
class ClauseMatrix:
    """One clause's writer × reader matrix: ``cells[writer][reader]`` (None where no pair ran)."""

    id: str
    level: str
    title: str
    names: tuple[str, ...]
    cells: Mapping[str, Mapping[str, PairCell | None]]


def clause_matrices(columns: Sequence[Run]) -> list[ClauseMatrix]:
    """A matrix per clause that any pair's result has, in the order the results give them."""
    numbered = [(number, run) for number, run in enumerate(columns, 1) if run.pair is not None]
    names = tuple(sides([run.pair for _, run in numbered if run.pair is not None]))
    ids = list(dict.fromkeys(cid for _, run in numbered for cid in run.verdicts))
    matrices = []
    for cid in ids:
        cells: dict[str, dict[str, PairCell | None]] = {w: dict.fromkeys(names) for w in names}
        level = title = ""
        for number, run in numbered:
            verdict = run.verdicts.get(cid)
            if verdict is None or run.pair is None:
                continue
            level, title = verdict.level, verdict.title or verdict.statement[:80]
            writer, reader = run.pair
            cells[writer][reader] = PairCell(number, verdict.status, verdict.reason)
        matrices.append(ClauseMatrix(cid, level, title, names, cells))
    return matrices
