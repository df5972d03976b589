"""One engine: ``blockspec check-module`` and ``check_module()`` run the same suite, made from the contract table.

The command runs the module-contract suite in an isolated child process; ``check_module`` runs it in
this process, through the same session, and both build the verdicts with
``conformance.run.verdicts.build_result``. For every module of ``tests/modules`` (correct, broken and
real) the two make the same run: the same pytest command line, the same rerun line. A sample of
modules is also checked both ways and gets the same statuses; ``BLOCKSPEC_EVERY_MODULE=1`` checks
every module both ways (about 80 commands: 12 minutes on 2 cores).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")

from conformance._cli import _parser, module_request
from conformance.modules import ModuleSubject, evaluate, load_subject, parse_shape
from conformance.modules._clauses import CONTRACT
from conformance.modules._engine import run_request
from spec import load_catalogue
from tests.helpers import cited, conformance_tests
from tests.modules.catalog import MODULES, assert_the_command_agrees, command_options

#: Modules checked both ways in every run of the suite: the chapter's FixedHiddenMLP (three root failures,
#: their dependents blocked), a wrong hand-written backward, token inputs from a strategy, a real layer.
SAMPLE = (
    "chapter FixedHiddenMLP as written",
    "residual CNN, Function with a wrong backward",
    "embedding of integer tokens (--inputs)",
    "nn.GRU(4, 5)",
)
EVERY = os.environ.get("BLOCKSPEC_EVERY_MODULE") == "1"


def test_the_suite_is_the_contract_table() -> None:
    """One test per clause, in the table's order, running the table's function with the table's cap."""
    from hypothesis import settings

    tests = list(conformance_tests("module"))
    clauses = [cited(function) for _, function in tests]
    assert sorted(c for cs in clauses for c in cs) == sorted(e.id for e in CONTRACT), (
        f"observed tests citing {clauses}; expected one per clause of the table {[e.id for e in CONTRACT]}"
    )
    assert set(e.id for e in CONTRACT) == set(load_catalogue(subject="module")), "observed table and catalogue differ"
    by_clause = {cs[0]: function for (_, function), cs in zip(tests, clauses, strict=True)}
    default = settings().max_examples
    for entry in CONTRACT:
        function = by_clause[entry.id]
        ran = function.hypothesis.inner_test.contract.function
        assert ran is entry.function, f"observed {entry.id}'s test running {ran}; expected {entry.function}"
        observed = function._hypothesis_internal_use_settings.max_examples
        expected = default if entry.examples is None else min(default, entry.examples)
        assert observed == expected, f"observed {entry.id} drawing {observed} examples; expected {expected}"


def test_every_module_has_a_unique_name() -> None:
    names = [m.name for m in MODULES]
    assert len(names) == len(set(names)), f"observed repeated names {sorted(n for n in names if names.count(n) > 1)}"


def test_a_failing_check_carries_its_report() -> None:
    """check_module's AssertionError has the report a passing call returns, dependents blocked as the command has them."""
    from conformance.modules import ModuleContractError, check_module
    from tests.modules.broken import CHAPTER

    fixed_hidden = CHAPTER[0]
    with pytest.raises(ModuleContractError) as info:
        check_module(fixed_hidden.factory, input_shapes=fixed_hidden.shapes, profile="fast", max_examples=3)
    statuses = info.value.report.statuses()
    assert {c for c, s in statuses.items() if s == "fail"} == set(fixed_hidden.fails), f"observed {statuses}"
    assert info.value.report.result is not None and info.value.report.result.exit_code == 1, "observed no result"


@pytest.mark.parametrize("index", range(len(MODULES)), ids=[m.name for m in MODULES])
def test_the_command_and_check_module_make_the_same_run(index: int) -> None:
    """Same options, same run: the pytest command line and the rerun line agree, the module's names aside."""
    case = MODULES[index]
    shapes = tuple(parse_shape(s) for s in case.shapes)
    subject = ModuleSubject("T", case.factory, shapes, inputs=case.inputs)  # not loaded: no forward needed
    in_process = run_request(subject, profile="fast", shrink=False)
    command = module_request(
        _parser().parse_args(["check-module", "T", "--profile", "fast", "--no-shrink", *command_options(case)])
    )
    same = {"target": "T", "inputs": "I" if case.inputs is not None else None}
    ours, theirs = replace(in_process, **same), replace(command, **same)
    assert ours.pytest_arguments() == theirs.pytest_arguments(), (
        f"{case.name}: observed check_module() running {ours.pytest_arguments()} and the command "
        f"{theirs.pytest_arguments()}; expected the same"
    )
    assert ours.rerun_template() == theirs.rerun_template(), (
        f"{case.name}: observed rerun lines {ours.rerun_template()!r} and {theirs.rerun_template()!r}"
    )


@pytest.mark.slow  # one check-module command per module
@pytest.mark.parametrize(
    "index",
    [i for i, m in enumerate(MODULES) if EVERY or m.name in SAMPLE],
    ids=[m.name for m in MODULES if EVERY or m.name in SAMPLE],
)
def test_the_command_and_check_module_give_the_same_statuses(index: int, tmp_path: Path) -> None:
    case = MODULES[index]
    if getattr(case, "needs", ""):
        pytest.importorskip(case.needs)
    report = evaluate(load_subject(case.factory, case.shapes, inputs=case.inputs), profile="fast", shrink=False)
    assert_the_command_agrees(case, report, tmp_path, "--profile", "fast", "--no-shrink")


def test_the_sample_names_modules_that_exist() -> None:
    missing = set(SAMPLE) - {m.name for m in MODULES}
    assert not missing, f"observed sample names {sorted(missing)} matching no module; expected all to match"


def test_check_module_leaves_the_callers_hypothesis_settings_and_palette_as_they_were() -> None:
    from hypothesis import settings

    from conformance.kit import strategies
    from conformance.modules import check_module
    from tests.modules.correct import MLP

    settings.register_profile("a-users-own", max_examples=7)
    before = settings.get_current_profile_name()
    palette = strategies.palette_for(3)
    token = strategies.use_palette(palette)
    try:
        settings.load_profile("a-users-own")
        check_module(MLP, (4, 20), clauses=["MOD-REGISTERED"], profile="fast", max_examples=2)
        observed = (settings.get_current_profile_name(), settings.default.max_examples, strategies.active_palette())
        assert observed == ("a-users-own", 7, palette), (
            f"observed (profile, max_examples, palette) {observed} after check_module; expected the caller's"
        )
    finally:
        strategies.restore_palette(token)
        settings.load_profile(before)


def test_check_module_refuses_a_selection_that_leaves_nothing_to_check() -> None:
    """A check of no clause is no pass: check_module refuses it, as the command does."""
    from conformance._errors import UsageError
    from conformance.modules import check_module
    from tests.modules.correct import MLP

    for options in ({"clauses": []}, {"clauses": ["MOD-REGISTERED"], "exclude": ["MOD-REGISTERED"]}):
        with pytest.raises(UsageError) as info:
            check_module(MLP, (4, 20), profile="fast", **options)  # type: ignore[arg-type]
        assert "leave no module-contract clause" in str(info.value), f"observed {info.value} for {options}"
