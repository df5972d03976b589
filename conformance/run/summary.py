"""The plain-text summary of a run, for terminals and CI logs."""

from __future__ import annotations

from conformance._text import neutral
from conformance.run.result import RunResult
from conformance.run.status import STATUSES, Status


def summary_lines(result: RunResult) -> list[str]:
    """Counts per status and level, then every non-passing MUST/SHOULD clause with its statement.

    Control characters from the result (a backend's ANSI escapes) are shown as pictures, never obeyed.
    """
    counts = result.counts()
    backend = result.backend
    lines = [
        f"backend {backend['name']} {backend.get('version', '')} on {result.device} "
        f"(profile {result.profile}, {result.duration_s:.1f} s)",
        "  " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]),
    ]
    by_level: dict[str, dict[str, int]] = {}
    for clause in result.clauses:
        by_level.setdefault(clause.level, {}).setdefault(clause.status, 0)
        by_level[clause.level][clause.status] += 1
    for level, level_counts in by_level.items():
        lines.append(f"  {level}: " + ", ".join(f"{n} {s}" for s, n in level_counts.items()))
    for clause in result.clauses:
        if clause.status in (Status.FAIL, Status.ERROR, Status.BLOCKED):
            lines.append(f"{Status(clause.status).value.upper():8} {clause.id} [{clause.level}] {clause.statement}")
            lines.append(f"         {clause.reason}")
            if clause.failure and clause.failure.get("rerun"):
                lines.append(f"         rerun: {clause.failure['rerun']}")
    for clause in result.clauses:
        if clause.known_failure and clause.known_failure.get("unexpected_pass"):
            lines.append(
                f"XPASS    {clause.id} [{clause.level}] listed as a known failure but passes: remove the entry"
            )
    if result.incomplete:
        verdict = f"incomplete: {result.incomplete}; {len(result.failing_must())} MUST clause(s) not passed or not run"
    elif result.exit_code == 0:
        verdict = "every applicable, selected MUST clause was checked and passes"
    else:
        verdict = f"{len(result.failing_must())} MUST clause(s) do not pass"
    lines.append(f"verdict: {verdict}")
    return [neutral(line) for line in lines]  # a backend's message must not drive the terminal
