"""conformance.run.summary: the verdict sentence names every MUST clause that does not pass, and every known one."""

from __future__ import annotations

import pytest

from conformance.run.result import ClauseResult
from conformance.run.status import Status
from conformance.run.summary import summary_lines
from tests.run.samples import run_result

# --- the verdict sentence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([("MUST", "pass"), ("SHOULD", "xfail")], "every applicable, selected MUST clause was checked and passes"),
        ([("MUST", "pass"), ("MUST", "xfail"), ("MUST", "xfail")], "conforms except 2 known failure(s): C-1, C-2"),
        ([("MUST", "fail"), ("MUST", "xfail")], "1 MUST clause(s) do not pass (C-0); and 1 known failure(s): C-1"),
        ([("MUST", "blocked")], "1 MUST clause(s) do not pass (C-0)"),
        ([("MUST", "not-applicable"), ("MUST", "skipped"), ("SHOULD", "pass")], "nothing to check: no selected MUST"),
    ],
)
def test_the_verdict_line_names_every_known_must_failure(rows: list[tuple[str, str]], words: str) -> None:
    clauses = [ClauseResult(f"C-{i}", "4.1", lvl, "t", "s", Status(status)) for i, (lvl, status) in enumerate(rows)]
    lines = summary_lines(run_result(clauses))
    assert lines[-1].startswith(f"verdict: {words}"), f"observed {lines[-1]!r}; expected it to start {words!r}"
