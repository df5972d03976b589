"""Each interop mutant writer fails exactly its INTEROP clause, and the CLI refuses bad pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.interop.matrix import matrix_markdown
from conformance.run.inprocess import run_suite
from conformance.run.request import RunRequest
from conformance.run.status import Status
from tests.helpers import run_cli

MUTANTS = {
    "NarrowsToBfloat16": "INTEROP-DTYPE-BITS",
    "DropsLinearTranspose": "INTEROP-LAYOUT",
    "SavesTieTwice": "INTEROP-TIES",
    "RenamesAKey": "INTEROP-KEYS",
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_mutant_fails_exactly_its_clause(mutant: str) -> None:
    pair = f"tests.mutants.interop:{mutant}->torch"  # torch reads bfloat16; the reference (NumPy) cannot
    result = run_suite(RunRequest(pair, kind="interop", profile="fast"))
    statuses = {c.id: Status(c.status).value for c in result.clauses}
    failing = sorted(c for c, s in statuses.items() if s == "fail")
    assert failing == [MUTANTS[mutant]], (
        f"{pair}: observed failing {failing}; expected [{MUTANTS[mutant]}] ({statuses})"
    )
    # FORWARD depends on all four: blocked when its own check fails too, pass when the reader undoes the damage.
    forward = statuses["INTEROP-FORWARD"]
    assert forward in ("blocked", "pass"), f"{pair}: observed INTEROP-FORWARD {forward}; expected blocked or pass"


def test_a_correct_pair_passes_every_clause() -> None:
    result = run_suite(RunRequest("torch->reference", kind="interop", profile="fast"))
    statuses = {c.id: Status(c.status).value for c in result.clauses}
    assert set(statuses.values()) == {"pass"}, f"torch->reference: observed {statuses}; expected every clause pass"


@pytest.mark.parametrize(
    "argv",
    [
        ["--pair", "torch"],
        ["--pair", "torch->"],
        ["--backends", "torch"],
        ["--pair", "nosuch->torch"],
        ["--clause", "NOPE"],
    ],
)
def test_a_malformed_pair_is_a_usage_error(argv: list[str], tmp_path: Path) -> None:
    proc = run_cli(["interop", *argv], tmp_path)
    assert proc.returncode == 2, f"observed exit {proc.returncode}; expected 2 ({proc.stderr[-300:]})"
    assert "Traceback" not in proc.stderr, f"observed a traceback for {argv}: {proc.stderr[-300:]}"


def test_the_matrix_puts_writers_down_and_readers_across() -> None:
    table = matrix_markdown([("a->b", {"pass": 4, "xfail": 1}), ("b->a", {"pass": 5}), ("a->c", {"fail": 2})])
    rows = table.splitlines()
    assert rows[0] == "| writer \\ reader | a | b | c |", f"observed header {rows[0]!r}"
    assert rows[2] == "| a | · | 4 pass, 1 xfail | 2 fail |", f"observed row a {rows[2]!r}"
    assert rows[3] == "| b | 5 pass | · |  |", f"observed row b {rows[3]!r}"
