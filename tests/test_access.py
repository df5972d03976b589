"""The kill matrix's shortcut: a mutant runs the clauses that read what it redefines (conformance._access)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from conformance import _access
from conformance import _killmatrix as K
from conformance.backends.reference import ReferenceBackend
from conformance.run.inprocess import run_suite
from conformance.run.request import RunRequest
from reference import chapter

ROOT = Path(__file__).resolve().parent.parent


class _Mixin:
    def save(self, obj: Any, path: Any) -> None:  # pragma: no cover - never called
        raise AssertionError


class _Mutant(_Mixin, ReferenceBackend):
    target = "SEQ-INDEX"
    region = "children"

    def index(self, module: Any, i: int) -> Any:  # pragma: no cover - never called
        raise AssertionError


def test_redefined_names_what_the_mutant_and_its_mixins_define_over_the_base() -> None:
    assert _access.base_backend(_Mutant) is ReferenceBackend, f"observed base {_access.base_backend(_Mutant)}"
    names = _access.redefined(_Mutant)
    assert names == {"index", "save"}, f"observed {sorted(names)}; expected index and save (not target, region)"


def test_a_mutant_runs_the_clauses_that_read_what_it_redefines() -> None:
    trace = {"shared": ["name"], "by_clause": {"SEQ-INDEX": ["index", "build"], "IO-X": ["save"], "OTHER": ["forward"]}}
    assert _access.clauses_to_run(trace, {"index"}) == {"SEQ-INDEX"}, "observed a wrong selection for index"
    assert _access.clauses_to_run(trace, {"index", "save"}) == {"SEQ-INDEX", "IO-X"}
    assert _access.clauses_to_run(trace, {"unread"}) == set(), "observed clauses selected for a name no test reads"
    # What the session reads outside any one test, and dunders (looked up past __getattribute__): everything runs.
    assert _access.clauses_to_run(trace, {"index", "name"}) is None, "observed a selection despite a shared read"
    assert _access.clauses_to_run(trace, {"__init__"}) is None, "observed a selection despite a redefined dunder"


class _OtherMyLinear(chapter.MyLinear):
    """A replaced block (never built here)."""


class _OneBlockReplaced(ReferenceBackend):
    target = "CUSTOM-PARAMS-REGISTERED"
    blocks = types.SimpleNamespace(**{**{n: getattr(chapter, n) for n in dir(chapter)}, "MyLinear": _OtherMyLinear})


def test_a_replaced_block_counts_as_that_member_of_blocks_only() -> None:
    names = _access.redefined(_OneBlockReplaced)
    assert names == {"blocks.MyLinear"}, f"observed {sorted(names)}; expected blocks.MyLinear alone"
    trace = {"shared": [], "by_clause": {"CUSTOM-A": ["blocks", "blocks.MyLinear"], "SEQ-B": ["blocks", "build"]}}
    selected = _access.clauses_to_run(trace, names)
    assert selected == {"CUSTOM-A"}, f"observed {selected}; expected only the clause that read blocks.MyLinear"


class Traced(ReferenceBackend):
    """The reference under a class of its own: ``AccessTrace.install`` patches the class it is given."""


def test_the_trace_files_each_read_under_the_clause_whose_test_made_it() -> None:
    trace = _access.AccessTrace()
    trace.install(Traced)
    io, mine = "IO-TENSOR-ROUNDTRIP", "MYLINEAR-FORWARD"
    request = RunRequest("tests.test_access:Traced", profile="fast", clauses=("SEQ-INDEX", io, mine))
    result = run_suite(request, plugins=[trace])
    assert result.exit_code == 0, f"observed exit {result.exit_code}; expected the reference to pass"
    assert set(trace.by_clause) == {"SEQ-INDEX", io, mine}, f"observed clauses {sorted(trace.by_clause)}"
    assert "index" in trace.by_clause["SEQ-INDEX"], f"observed SEQ-INDEX reads {sorted(trace.by_clause['SEQ-INDEX'])}"
    assert "save" in trace.by_clause[io], f"observed {io} reads {sorted(trace.by_clause[io])}"
    assert "index" not in trace.by_clause[io], f"observed SEQ-INDEX's read filed under {io}"
    assert "capabilities" in trace.shared, f"observed shared reads {sorted(trace.shared)}; expected capabilities"
    # The chapter's blocks are filed member by member: MYLINEAR-FORWARD builds MyLinear, SEQ-INDEX never does.
    assert "blocks.MyLinear" in trace.by_clause[mine], f"observed {mine} reads {sorted(trace.by_clause[mine])}"
    assert "blocks.MyLinear" not in trace.by_clause["SEQ-INDEX"], "observed SEQ-INDEX filed as reading MyLinear"
    # A class is read where a node of its kind is built, not looked up ahead for every kind: SEQ-INDEX's nets hold
    # no CenteredLayer, and MYLINEAR-FORWARD's chapter block is MyLinear alone.
    ahead = {"SEQ-INDEX": "blocks.CenteredLayer", mine: "blocks.FixedHiddenMLP"}
    for clause, name in ahead.items():
        assert name not in trace.by_clause[clause], f"observed {clause} filed as reading {name}, which it never builds"
    # So are the tree builder's hooks (kit.TreeBuilder): SEQ-INDEX builds nets with no tie, shared or lazy layer.
    hooks = {"tie", "reuse", "lazy_linear_class"} & trace.by_clause["SEQ-INDEX"]
    assert not hooks, f"observed SEQ-INDEX filed as reading {sorted(hooks)}; expected them read only where needed"
    # Loading checks that every protocol member exists; a mutant keeps them all, so those reads are not filed.
    assert "try_all_gpus" not in trace.shared, "observed the protocol's presence check filed as a shared read"


@pytest.mark.slow  # two whole-suite runs and a traced one
def test_the_selected_run_judges_as_the_whole_suite_does() -> None:
    """The shortcut is sound where it matters: the same statuses, exit status and judgement as a whole run."""
    mutant = K.find_mutants(["tests.mutants.reference_mutants:RankBlindLoad"])[0]
    selected = K.run_mutant(mutant, cwd=ROOT)
    whole = K.run_mutant(mutant, cwd=ROOT, whole_suite=True)
    assert selected.statuses == whole.statuses, (
        f"observed {mutant.selector} statuses differing between the selected and the whole run: "
        f"{ {c: (s, whole.statuses.get(c)) for c, s in selected.statuses.items() if s != whole.statuses.get(c)} }"
    )
    assert (selected.exit_code, selected.problem) == (whole.exit_code, whole.problem), (
        f"observed exit {selected.exit_code} / {selected.problem!r}; whole suite {whole.exit_code} / {whole.problem!r}"
    )
