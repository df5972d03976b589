"""The kill matrix: every clause is shown able to fail by a mutant backend.

Each mutant (tests/mutants/*_mutants.py) breaks one behaviour. The suite runs
on it in a subprocess (the clauses whose tests read what it redefines; the
rest end as on its base backend: conformance._access); its target clause must
fail (or error), no other MUST clause may fail or error (dependents of the
target may only be ``blocked``), and the exit status must follow the
target's level. The
judgement is conformance._killmatrix's, the one ``blockspec kill-matrix`` prints.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from conformance import _killmatrix as K
from conformance.kit.reach_strategies import ALL_REACH
from spec import load_catalogue
from tests.helpers import clauses_with_tests

ROOT = Path(__file__).resolve().parent.parent

#: Every ``tests/mutants/*_mutants.py`` module: one per backend.
MUTANT_MODULES = tuple(K.default_modules(ROOT))
MUTANTS = K.find_mutants(MUTANT_MODULES)

#: Backends whose whole-suite run takes minutes (JAX compiles every new shape: about 3.5 min per
#: flax run at the fast profile on 2 cores). Their mutants run when BLOCKSPEC_SLOW_MUTANTS=1.
SLOW_MODULES = {"tests.mutants.flax_mutants", "tests.mutants.tinygrad_mutants"}
RUN_SLOW = os.environ.get("BLOCKSPEC_SLOW_MUTANTS") == "1"


def _param(mutant: K.Mutant) -> Any:
    marks = []
    if mutant.module in SLOW_MODULES and not RUN_SLOW:
        marks.append(pytest.mark.skip(reason=f"slow backend: set BLOCKSPEC_SLOW_MUTANTS=1 to run {mutant.selector}"))
    elif why := K.not_runnable_here(mutant):
        marks.append(pytest.mark.skip(reason=f"not run here: {why}"))
    return pytest.param(mutant, id=f"{mutant.name}->{mutant.target}", marks=marks)


@pytest.fixture(scope="module", autouse=True)
def _base_runs_first(request: pytest.FixtureRequest) -> None:
    """This process's share of the base runs the selected mutants need, made before its first mutant.

    pytest-xdist's workers share them (conftest.py): each makes those no other worker has started
    (``K.prepare_baselines``), instead of all starting on the first mutant's and waiting for one.
    """
    mutants = [
        item.callspec.params["mutant"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == test_mutant_fails_exactly_its_clause.__name__
        and item.get_closest_marker("skip") is None
    ]
    K.prepare_baselines(mutants, cwd=ROOT)


def test_every_tested_clause_has_a_mutant() -> None:
    if not MUTANTS:
        pytest.skip("no mutant module importable (torch missing)")
    targets = {m.target for m in MUTANTS}
    uncaught = sorted(clauses_with_tests() - targets)
    assert not uncaught, f"observed clauses with tests but no mutant to show they can fail: {uncaught}; expected none"


@pytest.mark.slow  # a whole-suite run per mutant
@pytest.mark.parametrize("mutant", [_param(m) for m in MUTANTS])
def test_mutant_fails_exactly_its_clause(mutant: K.Mutant) -> None:
    verdict = K.run_mutant(mutant, cwd=ROOT)
    assert verdict.killed, f"mutant {mutant.selector} (target {mutant.target}): {verdict.problem}"


#: Mutants wrong only in a rare region of the draws (their ``region``: a dimension of REACH or MORE_REACH).
REGION_MUTANTS = [m for m in MUTANTS if m.region]
#: The dimensions a palette changes (sizes): each needs a region mutant caught under a palette. The
#: other regions are counts (children, passes, uses, keys), which a palette never draws from; that
#: they keep their reach under a palette is tests/kit/test_strategies_reach.py's, in both modes.
PALETTE_DIMENSIONS = {"width", "net_width", "batch", "elements"}


@pytest.mark.slow  # a whole-suite run per mutant
@pytest.mark.parametrize("mutant", [_param(m) for m in REGION_MUTANTS if m.region in PALETTE_DIMENSIONS])
def test_region_mutant_is_caught_with_sizes_from_a_palette(mutant: K.Mutant) -> None:
    """A per-run palette of sizes (``--shapes palette``, for compiling frameworks) still reaches each region.

    Only the target runs, at the ci profile: that the mutant breaks nothing else is
    test_mutant_fails_exactly_its_clause's, and a palette changes sizes, not which clause reads what.
    """
    status, output = K.target_status(mutant, cwd=ROOT, shapes="palette")
    assert status in ("fail", "error"), (
        f"mutant {mutant.selector} (region {mutant.region}) under a palette: observed {mutant.target} {status}; "
        f"expected fail or error\n{output}"
    )


@pytest.mark.slow  # a suite run
def test_a_target_that_passes_is_not_caught() -> None:
    """``target_status`` reports the target's own status: an unbroken backend's target passes."""
    unbroken = K.Mutant("conformance.backends.reference", "ReferenceBackend", "SEQ-INDEX", region="batch")
    status, output = K.target_status(unbroken, cwd=ROOT, profile="fast", shapes="palette")
    assert status == "pass", f"observed SEQ-INDEX {status} on the unbroken reference; expected pass\n{output}"


def test_every_size_dimension_has_a_region_mutant() -> None:
    if not MUTANTS:
        pytest.skip("no mutant module importable (torch missing)")
    regions = {m.region for m in REGION_MUTANTS}
    unknown = regions - set(ALL_REACH)
    assert not unknown, (
        f"observed mutant regions {sorted(unknown)} in neither REACH nor MORE_REACH; expected dimensions of either"
    )
    missing = PALETTE_DIMENSIONS - regions
    assert not missing, f"observed no region mutant for {sorted(missing)}; expected one per size dimension"


def test_mutants_are_grouped_by_the_chapter_section_of_their_target() -> None:
    """A module whose mutants break clauses of several sections files each under its section's header.

    The header is a line ``# --- 4.N Title``; a mutant of a 4.2 clause below the 4.4 header is misfiled.
    """
    catalogue = load_catalogue()
    misfiled = []
    for module in MUTANT_MODULES:
        mutants = {m.name: m for m in MUTANTS if m.module == module}
        sections = {_chapter_section(catalogue[m.target].section) for m in mutants.values()}
        if len(sections) < 2:
            continue
        current = ""
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if header := re.match(r"# --- (4\.\d) ", line):
                current = header.group(1)
            elif (name := re.match(r"class (\w+)", line)) and name.group(1) in mutants:
                wanted = _chapter_section(catalogue[mutants[name.group(1)].target].section)
                if wanted != current:
                    misfiled.append(
                        f"{path.name}:{number} {name.group(1)} under {current or 'no header'}, not {wanted}"
                    )
    assert not misfiled, f"observed mutants filed outside their target's chapter section: {misfiled}; expected none"


def _chapter_section(section: str) -> str:
    return ".".join(section.split(".")[:2])


def test_a_surviving_mutant_is_reported() -> None:
    """The judge itself can fail: a mutant whose target passes, or that fails a bystander, is not a kill."""
    mutant = K.Mutant("m", "M", "SEQ-INDEX")
    levels = {"SEQ-INDEX": "MUST", "SEQ-ORDER": "MUST", "MODULE-REPR": "SHOULD"}
    survived = K.MutantRun(mutant, {"SEQ-INDEX": "pass", "SEQ-ORDER": "pass", "MODULE-REPR": "pass"}, levels, 0)
    assert "survived" in K.judge(survived), f"observed {K.judge(survived)!r}; expected a survivor"
    collateral = K.MutantRun(mutant, {"SEQ-INDEX": "fail", "SEQ-ORDER": "fail", "MODULE-REPR": "pass"}, levels, 1)
    assert "SEQ-ORDER" in K.judge(collateral), f"observed {K.judge(collateral)!r}; expected SEQ-ORDER named"
    clean = K.MutantRun(mutant, {"SEQ-INDEX": "fail", "SEQ-ORDER": "blocked", "MODULE-REPR": "fail"}, levels, 1)
    assert K.judge(clean) == "", f"observed {K.judge(clean)!r}; expected a clean kill (SHOULD and blocked allowed)"
    # A clause the backend fails unmutated, listed in its manifest but not waivable (paddle's IO-NO-CODE-EXECUTION),
    # is the framework's honest red, not the mutant's collateral; an error there, or an unlisted clause, still is.
    statuses = {"SEQ-INDEX": "fail", "SEQ-ORDER": "fail", "MODULE-REPR": "pass"}
    honest = K.MutantRun(mutant, statuses, levels, 1, known_unwaived=frozenset({"SEQ-ORDER"}))
    assert K.judge(honest) == "", f"observed {K.judge(honest)!r}; expected a clean kill beside a known unwaived failure"
    erring = K.MutantRun(mutant, {**statuses, "SEQ-ORDER": "error"}, levels, 1, known_unwaived=frozenset({"SEQ-ORDER"}))
    assert "SEQ-ORDER" in K.judge(erring), f"observed {K.judge(erring)!r}; expected the erring SEQ-ORDER named"


def test_accelerator_mutants_are_judged_only_where_an_accelerator_is() -> None:
    """A device mutant whose backend has no accelerator here is set aside, not counted as a survivor."""
    by_target = {(m.module, m.target): m for m in MUTANTS}
    reference = by_target.get(("tests.mutants.reference_mutants", "DEV-PARITY"))
    assert reference is not None, "observed no reference mutant of DEV-PARITY; expected one"
    assert K.not_runnable_here(reference) == "", "observed the reference (simulated devices) set aside"
    counting = by_target.get(("tests.mutants.torch_mutants", "DEV-COUNT"))
    if counting is not None:  # device_count() is checked with no accelerator present too
        assert K.not_runnable_here(counting) == "", f"observed {counting.selector} set aside; it needs no accelerator"
    cuda = by_target.get(("tests.mutants.torch_cuda_mutants", "DEV-PARITY"))
    if cuda is None:
        pytest.skip("torch missing")
    import torch

    why = K.not_runnable_here(cuda)
    if torch.cuda.is_available():
        assert why == "", f"observed {cuda.selector} set aside ({why!r}) on a machine with CUDA"
    else:
        assert "accelerator" in why, f"observed {why!r} for {cuda.selector} without CUDA; expected it set aside"


@pytest.mark.parametrize("bystander", ["pass", "fail"])
def test_a_region_mutants_target_and_its_dependents_run_at_ci_and_the_other_clauses_at_fast(
    bystander: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutant hiding in a rare region needs ci's examples where it is caught (its target, and the dependents
    a failing target blocks); the "no other MUST clause fails" half runs at fast, from the fast base run."""
    region = K.Mutant("tests.mutants.reference_mutants", "RankThreeScrambled", "BLOCK-FORWARD-VALUE", region="batch")
    dependent, other, untouched = "BLOCK-NESTING", "SEQ-INDEX", "SEQ-ORDER"  # BLOCK-NESTING depends on the target
    catalogue = load_catalogue()
    assert region.target in catalogue[dependent].depends_on, "the fake trace below needs a direct dependent"
    reading = {region.target: ["forward"], dependent: ["forward"], other: ["forward"], untouched: ["parameters"]}
    levels = {cid: catalogue[cid].level.value for cid in catalogue}
    base = K.Baseline({cid: "pass" for cid in catalogue}, levels, frozenset(), {"shared": [], "by_clause": reading})
    monkeypatch.setattr(K, "_BASELINES", {K._baseline_key(region, ROOT, p, None): base for p in ("fast", "ci")})
    parts: list[tuple[str, list[str]]] = []
    own = {region.target: "fail", dependent: "fail", other: bystander}  # what each clause does on the mutant

    def fake_run(selector: str, profile: str, shapes: Any, clauses: Any, **kwargs: Any) -> tuple[int, Any, str]:
        parts.append((profile, list(clauses)))
        statuses = {c: own[c] for c in clauses}
        if statuses.get(dependent) == "fail" and statuses.get(region.target) == "fail":
            statuses[dependent] = "blocked"  # as the run's verdicts block a failing dependent of a failure
        rows = [{"id": c, "status": statuses.get(c, "skipped"), "level": levels[c]} for c in catalogue]
        return int("fail" in statuses.values()), {"clauses": rows}, ""

    monkeypatch.setattr(K, "_run_suite_process", fake_run)
    run = K.run_mutant(region, cwd=ROOT)
    expected_parts = [("ci", sorted([region.target, dependent])), ("fast", [other])]
    assert parts == expected_parts, f"observed the runs {parts}; expected {expected_parts}"
    assert run.statuses[untouched] == "pass", f"observed {untouched} {run.statuses[untouched]}; expected the base's"
    if bystander == "pass":
        assert run.killed, f"observed {run.problem!r}; expected a clean kill (exit {run.exit_code})"
    else:
        assert other in run.problem, f"observed {run.problem!r}; expected the failing {other} at fast named"
    parts.clear()
    K.run_mutant(region, cwd=ROOT, profile="ci")
    assert [p for p, _ in parts] == ["ci"], f"observed runs at {parts}; expected one at the ci profile given"


def test_a_base_run_another_process_is_making_is_left_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare_baselines`` makes the base runs nobody has started and skips, without waiting, one being made."""
    import fcntl

    made: list[str] = []

    def fake_run(selector: str, profile: str, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
        made.append(selector)
        return 0, {"clauses": [{"id": "SEQ-INDEX", "status": "pass", "level": "MUST"}], "trace": {}}, ""

    monkeypatch.setenv(K.BASELINE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(K, "_BASELINES", {})
    monkeypatch.setattr(K, "_run_suite_process", fake_run)
    torch = pytest.importorskip("tests.mutants.torch_mutants").__name__
    reference = K.Mutant("tests.mutants.reference_mutants", "TieParamByCopy", "TIE-PARAM-IDENTITY")
    region = K.Mutant("tests.mutants.reference_mutants", "RankThreeScrambled", "BLOCK-FORWARD-VALUE", region="batch")
    held_back = K.Mutant(torch, "EmptySequentialRaises", "BLOCK-NESTING", region="children")
    # another process holds the lock of torch's base run, as a worker making it would
    key = K._baseline_key(held_back, ROOT, "fast", None)
    lock_path = tmp_path / f"baseline-{K.hashlib.sha256(repr(key).encode()).hexdigest()[:16]}.json.lock"
    with open(lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        mutants = [reference, held_back, region]
        worker = threading.Thread(target=K.prepare_baselines, args=(mutants,), kwargs={"cwd": ROOT})
        worker.start()
        worker.join(30)
        waiting = worker.is_alive()
    worker.join()
    base = {m: K._baseline_key(m, ROOT, "fast", None)[0] for m in mutants}
    assert not waiting, "observed prepare_baselines waiting for a base run another process holds; expected it skipped"
    assert made == [base[reference]], f"observed base runs of {made}; expected the reference's only, torch's left"
    assert key not in K._BASELINES, "observed the base run being made elsewhere taken over; expected it left"
    assert K.baseline(held_back, cwd=ROOT, profile="fast", shapes=None, timeout=60) is not None
    expected = [base[reference], base[held_back]]
    assert made == expected, f"observed base runs of {made}; expected {expected}, torch's once its lock was free"
