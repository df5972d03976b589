"""The writer x reader matrix of an interop run: one cell per ordered pair, its clause counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from conformance.interop import split_pair


def cell(counts: Mapping[str, int]) -> str:
    """``{"pass": 4, "xfail": 1}`` -> ``"4 pass, 1 xfail"`` (zero counts left out)."""
    shown = [f"{n} {status}" for status, n in counts.items() if n]
    return ", ".join(shown) or "no clause"


def matrix_markdown(pairs: Sequence[tuple[str, Mapping[str, int]]]) -> str:
    """A Markdown table, writers down and readers across, of each pair's clause counts (``·`` on the diagonal)."""
    cells = {split_pair(name): counts for name, counts in pairs}
    names: list[str] = []
    for writer, reader in cells:
        names += [n for n in (writer, reader) if n not in names]
    lines = ["| writer \\ reader | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for writer in names:
        row = [
            "·" if writer == reader else cell(cells[writer, reader]) if (writer, reader) in cells else ""
            for reader in names
        ]
        lines.append(f"| {writer} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
