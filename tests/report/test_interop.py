"""conformance.report.interop: the interop matrix, writers down and readers across (the file itself:
tests/interop/test_command.py)."""

from __future__ import annotations

from conformance.report.interop import matrix_markdown


def test_the_matrix_puts_writers_down_and_readers_across() -> None:
    table = matrix_markdown([("a->b", {"pass": 4, "xfail": 1}), ("b->a", {"pass": 5}), ("a->c", {"fail": 2})])
    rows = table.splitlines()
    assert rows[0] == "| writer \\ reader | a | b | c |", f"observed header {rows[0]!r}"
    assert rows[2] == "| a | · | 4 pass, 1 xfail | 2 fail |", f"observed row a {rows[2]!r}"
    assert rows[3] == "| b | 5 pass | · |  |", f"observed row b {rows[3]!r}"
