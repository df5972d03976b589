"""conformance.run.verdicts: per-clause verdicts from test outcomes, dependencies, manifests, and a real failure.

The result file and its schema are tests/run/test_result.py's; the verdict sentence tests/run/test_summary.py's.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.run.result import TestOutcome as Outcome
from conformance.run.summary import summary_lines
from spec import Catalogue, Clause, Level, load_catalogue
from tests.helpers import REPO_ROOT, run_cli, schema_errors
from tests.run.samples import RERUN, clause, outcome, run_result, verdicts

if TYPE_CHECKING:
    import jsonschema

OWN = {"passed": "pass", "failed": "fail", "error": "error", "not-applicable": "not-applicable", "skipped": "skipped"}

# --- one clause's verdict ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "status"),
    [
        (["passed"], "pass"),
        (["passed", "failed"], "fail"),
        (["failed", "passed"], "fail"),
        (["passed", "failed", "error"], "error"),
        (["error", "failed"], "error"),
        (["not-applicable"], "not-applicable"),
        (["not-applicable", "not-applicable"], "not-applicable"),
        (["skipped"], "skipped"),
        (["passed", "skipped"], "pass"),
        (["skipped", "failed"], "fail"),
    ],
)
def test_verdict_of_one_clause(kinds: list[str], status: str) -> None:
    tests = [outcome(k, nodeid=f"t.py::test_{i}") for i, k in enumerate(kinds)]
    result = verdicts(Catalogue([clause("ONE-CLAUSE")]), {"ONE-CLAUSE": tests})["ONE-CLAUSE"]
    assert result.status == status, f"observed {result.status} for outcomes {kinds}; expected {status}"
    if status in ("fail", "error"):
        worst = next(t for t in tests if t.outcome == {"fail": "failed", "error": "error"}[status])
        assert result.reason == worst.message.splitlines()[0], f"observed reason {result.reason!r}"
        assert result.failure is not None, "observed no failure details on a failing clause"
        assert result.failure["rerun"] == RERUN.format(clause="ONE-CLAUSE"), f"observed {result.failure['rerun']!r}"
    else:
        assert result.failure is None, f"observed failure details {result.failure} on a {status} clause"


def test_failure_details_come_from_the_test_that_decided_the_status() -> None:
    tests = [outcome("failed", "an assertion\n..."), outcome("error", "a crash\n...", nodeid="t.py::test_crash")]
    result = verdicts(Catalogue([clause("MIXED-ONE")]), {"MIXED-ONE": tests})["MIXED-ONE"]
    assert result.status == "error", f"observed {result.status}; expected error"
    assert result.failure is not None, "observed no failure details on an errored clause"
    assert result.failure["test"] == "t.py::test_crash", f"observed {result.failure['test']}; expected the crash"
    assert result.failure["message"].startswith("a crash"), f"observed {result.failure['message']!r}"


def test_clause_without_tests_is_an_error_not_run() -> None:
    """A verdict is earned: a clause no test checked is never a pass, and not a silent 'pending' either."""
    result = verdicts(Catalogue([clause("NO-TESTS")]), {})["NO-TESTS"]
    assert result.status == "error", f"observed {result.status}; expected error"
    assert result.reason.startswith("not run:"), f"observed reason {result.reason!r}; expected 'not run: <why>'"


def test_unselected_clauses_are_skipped_with_a_reason() -> None:
    catalogue = Catalogue([clause("PICKED-ONE"), clause("LEFT-OUT"), clause("ALSO-LEFT")])
    results = verdicts(catalogue, {"PICKED-ONE": [outcome("passed")]}, selected={"PICKED-ONE"})
    assert results["PICKED-ONE"].status == "pass", f"observed {results['PICKED-ONE'].status}; expected pass"
    for cid in ("LEFT-OUT", "ALSO-LEFT"):
        assert results[cid].status == "skipped", f"observed {cid} {results[cid].status}; expected skipped"
        assert "not selected" in results[cid].reason, f"observed reason {results[cid].reason!r}"


def test_failure_with_an_empty_message_is_still_a_fail() -> None:
    result = verdicts(Catalogue([clause("EMPTY-MESSAGE")]), {"EMPTY-MESSAGE": [Outcome("t", "failed", 0.1, "")]})
    assert result["EMPTY-MESSAGE"].status == "fail", f"observed {result['EMPTY-MESSAGE'].status}; expected fail"


# --- known failures: what a manifest entry may and may not do -------------------------------------------


def _unwaivable(cid: str) -> Clause:
    return Clause(cid, "4.4", Level.MUST, "t", "s", "why", "quote", waivable=False)


def test_a_manifest_entry_turns_a_waivable_failure_into_xfail() -> None:
    """The control for the next test: the same entry on an ordinary clause does waive its failure."""
    entry = {"KNOWN-ONE": {"reason": "upstream bug", "link": ""}}
    result = verdicts(Catalogue([clause("KNOWN-ONE")]), {"KNOWN-ONE": [outcome("xfail")]}, known=entry)["KNOWN-ONE"]
    assert result.status == "xfail", f"observed {result.status}; expected xfail"
    assert result.known_failure is not None and result.known_failure["waived"] is True, (
        f"observed {result.known_failure}; expected the entry recorded as waiving the failure"
    )


@pytest.mark.parametrize("kind", ["xfail", "failed"])
def test_a_manifest_entry_cannot_waive_a_clause_the_spec_marks_not_waivable(kind: str) -> None:
    entry = {"SAFE-LOAD": {"reason": "our load unpickles", "link": ""}}
    result = verdicts(Catalogue([_unwaivable("SAFE-LOAD")]), {"SAFE-LOAD": [outcome(kind)]}, known=entry)["SAFE-LOAD"]
    assert result.status == "fail", f"observed {result.status} from a {kind} test; expected fail (not waivable)"
    assert "not waivable" in result.reason and "known-failure entry" in result.reason, (
        f"observed reason {result.reason!r}; expected it to say why the entry did not make it xfail"
    )
    assert result.failure is not None and result.failure["rerun"] == RERUN.format(clause="SAFE-LOAD"), (
        f"observed failure details {result.failure}; expected the test's failure and its rerun command"
    )
    assert result.known_failure is not None and result.known_failure["waived"] is False, (
        f"observed {result.known_failure}; expected the entry recorded as not waiving the failure"
    )
    assert run_result([result]).exit_code == 1, "observed exit 0 with a non-waivable MUST clause failing"


def test_a_manifest_entry_for_a_not_applicable_clause_is_stale() -> None:
    catalogue = Catalogue(
        [Clause("NEEDS-LAZY", "4.3", Level.MUST, "t", "s", "why", "q", requires=("lazy-init",)), clause("OTHER-ONE")]
    )
    entries = {cid: {"reason": "broken", "link": ""} for cid in ("NEEDS-LAZY", "OTHER-ONE")}
    results = verdicts(catalogue, {"NEEDS-LAZY": [], "OTHER-ONE": [outcome("xfail")]}, known=entries)
    stale, listed = results["NEEDS-LAZY"], results["OTHER-ONE"]
    assert stale.status == "not-applicable", f"observed {stale.status}; expected not-applicable"
    assert stale.known_failure is not None and stale.known_failure["stale"] is True, (
        f"observed {stale.known_failure}; expected the entry flagged stale"
    )
    assert listed.known_failure is not None and listed.known_failure["stale"] is False, (
        f"observed {listed.known_failure}; expected an applicable clause's entry not flagged stale"
    )
    lines = summary_lines(run_result([stale, listed]))
    assert any(line.startswith("STALE    NEEDS-LAZY") for line in lines), f"observed summary {lines}"
    assert not any(line.startswith("STALE    OTHER-ONE") for line in lines), f"observed summary {lines}"


# --- dependencies ---------------------------------------------------------------------------------------


def test_failure_under_a_failed_dependency_is_blocked_by_the_root_cause() -> None:
    catalogue = Catalogue([clause("ROOT-A"), clause("MID-B", deps=("ROOT-A",)), clause("LEAF-C", deps=("MID-B",))])
    results = verdicts(catalogue, {cid: [outcome("failed")] for cid in catalogue})
    assert results["ROOT-A"].status == "fail", f"observed {results['ROOT-A'].status}; expected fail"
    for cid in ("MID-B", "LEAF-C"):
        assert results[cid].status == "blocked", f"observed {cid} {results[cid].status}; expected blocked"
        assert results[cid].reason.startswith("blocked by ROOT-A"), f"observed reason {results[cid].reason!r}"


def test_blocking_passes_through_a_passing_clause() -> None:
    catalogue = Catalogue([clause("ROOT-A"), clause("MID-B", deps=("ROOT-A",)), clause("LEAF-C", deps=("MID-B",))])
    outcomes = {"ROOT-A": [outcome("error")], "MID-B": [outcome("passed")], "LEAF-C": [outcome("failed")]}
    results = verdicts(catalogue, outcomes)
    assert results["MID-B"].status == "pass", f"observed {results['MID-B'].status}; expected pass to stay pass"
    assert results["LEAF-C"].status == "blocked", f"observed {results['LEAF-C'].status}; expected blocked"
    assert "ROOT-A" in results["LEAF-C"].reason, f"observed reason {results['LEAF-C'].reason!r}; expected ROOT-A"


def test_failure_with_passing_dependencies_stays_a_failure() -> None:
    catalogue = Catalogue([clause("ROOT-A"), clause("LEAF-C", deps=("ROOT-A",))])
    results = verdicts(catalogue, {"ROOT-A": [outcome("passed")], "LEAF-C": [outcome("failed")]})
    assert results["LEAF-C"].status == "fail", f"observed {results['LEAF-C'].status}; expected fail"


LETTERS = "ABCDEFGH"
OUTCOME_KINDS = ("passed", "failed", "error", "not-applicable", "skipped")


@given(data=st.data())
def test_blocked_exactly_when_an_ancestor_fails(data: st.DataObject) -> None:
    count = data.draw(st.integers(1, len(LETTERS)), label="clause count")
    ids = [f"CL-{LETTERS[i]}" for i in range(count)]
    deps = {
        cid: tuple(data.draw(st.sets(st.sampled_from(ids[:i])) if i else st.just(set()), label=f"deps of {cid}"))
        for i, cid in enumerate(ids)
    }
    kinds = {
        cid: data.draw(st.lists(st.sampled_from(OUTCOME_KINDS), max_size=3), label=f"outcomes of {cid}") for cid in ids
    }
    catalogue = Catalogue([clause(cid, deps=tuple(sorted(deps[cid]))) for cid in ids])
    outcomes = {cid: [outcome(k, nodeid=f"t.py::{cid}_{j}") for j, k in enumerate(ks)] for cid, ks in kinds.items()}
    results = verdicts(catalogue, outcomes)

    def own(cid: str) -> str:
        found = set(kinds[cid])
        for kind in ("error", "failed", "passed", "not-applicable", "skipped"):
            if kind in found:
                return OWN[kind]
        return "error"  # not run: no test of the clause ran

    def ancestors(cid: str) -> set[str]:
        direct = set(deps[cid])
        return direct.union(*(ancestors(d) for d in direct))

    failing = {cid for cid in ids if own(cid) in ("fail", "error") and kinds[cid]}  # an unrun clause blocks none
    for cid in ids:
        culprits = ancestors(cid) & failing
        ran = bool(kinds[cid])  # a clause that did not run is its own root cause, never blocked
        expected = "blocked" if cid in failing and culprits and ran else own(cid)
        status = results[cid].status
        assert status == expected, f"observed {cid} {status}; expected {expected} (culprits {sorted(culprits)})"
        if expected == "blocked":
            roots = {c for c in culprits if not ancestors(c) & failing}
            match = re.match(r"blocked by (CL-[A-H]) \((fail|error)\)", results[cid].reason)
            assert match, f"observed reason {results[cid].reason!r}; expected 'blocked by <root> (<status>)'"
            assert match.group(1) in roots, f"observed cause {match.group(1)}; expected a root cause of {sorted(roots)}"


# --- the run's exit code -----------------------------------------------------------------------------------


# --- a real failure: a mutant backend -----------------------------------------------------------------------

MUTANT = "tests.mutants.torch_mutants:ReversedSequential"


@pytest.fixture(scope="module")
def mutant_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    path = tmp_path_factory.mktemp("mutant") / "r.json"
    args = ["run", "--backend", MUTANT, "--clause", "SEQ-ORDER", "--profile", "fast", "--json", str(path)]
    proc = run_cli(args, REPO_ROOT)
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return proc, data


def _clause(data: dict[str, Any], cid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["clauses"] if c["id"] == cid)
    return found


def test_mutant_failure_is_reported_in_full(
    result_validator: jsonschema.protocols.Validator,
    mutant_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, data = mutant_run
    errors = schema_errors(result_validator, data)
    assert not errors, f"observed schema errors {errors[:5]}; expected the mutant's result file to validate"
    ids = [c["id"] for c in data["clauses"]]
    assert ids == list(load_catalogue()), "observed result clauses differ from the catalogue's, in order"
    result = _clause(data, "SEQ-ORDER")
    assert result["status"] == "fail", f"observed {result['status']}; expected fail"
    failure = result["failure"]
    assert failure is not None, "observed no failure details on the failing clause"
    message = failure["message"]
    assert "SEQ-ORDER" in message and data["backend"]["name"] in message, f"observed message {message!r}"
    assert "observed" in message and "expected" in message, f"observed message {message!r}; expected both sides"
    example = failure["example"]
    draws = [line for line in example if re.match(r"Draw \d+ \([^)]+\): ", line)]
    assert draws, f"observed example {example}; expected hypothesis's labelled 'Draw N (label): ...' lines"
    assert "@reproduce_failure(" in failure["reproduce"], f"observed reproduce {failure['reproduce']!r}"
    assert failure["rerun"].startswith("blockspec run "), f"observed rerun {failure['rerun']!r}"
    assert f"--backend {MUTANT}" in failure["rerun"] and "--clause SEQ-ORDER" in failure["rerun"], failure["rerun"]


def test_mutant_rerun_command_reproduces_only_that_clause(
    mutant_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]], tmp_path: Path
) -> None:
    rerun = shlex.split(_clause(mutant_run[1], "SEQ-ORDER")["failure"]["rerun"])
    assert rerun[0] == "blockspec", f"observed command {rerun}; expected the blockspec command"
    path = tmp_path / "rerun.json"
    proc = run_cli([*rerun[1:], "--json", str(path)], REPO_ROOT)
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(path.read_text(encoding="utf-8"))
    checked = {c["id"]: c["status"] for c in data["clauses"] if c["tests"]}
    assert checked == {"SEQ-ORDER": "fail"}, f"observed checked clauses {checked}; expected only SEQ-ORDER, failing"
    others = [c["id"] for c in data["clauses"] if c["id"] != "SEQ-ORDER" and c["status"] != "skipped"]
    assert not others, f"observed {others} not skipped; expected every other clause skipped"
    assert data["backend"]["adapter"] == MUTANT, f"observed adapter {data['backend']['adapter']}"


@given(
    length=st.one_of(st.sampled_from([1, 299, 300, 301, 999, 1000, 1001, 1500, 5000]), st.integers(1, 5000)),
    word=st.integers(1, 40),
)
def test_a_reason_is_the_whole_first_line_or_cut_at_a_word_with_the_rest_pointed_to(length: int, word: int) -> None:
    line = " ".join(["x" * word] * (length // (word + 1) + 1))[:length].strip() or "x"
    result = verdicts(Catalogue([clause("LONG-ONE")]), {"LONG-ONE": [outcome("failed", line + "\nsecond")]})["LONG-ONE"]
    if len(line) <= 1000:
        assert result.reason == line, f"observed reason {result.reason!r}; expected the whole first line {line!r}"
        return
    kept, _, pointer = result.reason.partition(" … (")
    assert line.startswith(kept) and line[len(kept)] == " ", (
        f"observed reason cut at {len(kept)} of {len(line)} characters, mid-word; expected a cut at a space"
    )
    assert pointer == f"{len(line) - len(kept)} more characters: see failure.message)", f"observed {pointer!r}"
