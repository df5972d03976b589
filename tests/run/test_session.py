"""conformance.run.session: what one run inside pytest emits, and how it decides each test's outcome.

Runs are in-process pytester runs of small clause-marked test files on fake adapters, read back from the
session's journal (``--blockspec-journal``): the events are what both runners build verdicts from.
"""

from __future__ import annotations

import inspect
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import configuration, settings
from hypothesis.internal.conjecture import engine, providers

from conformance.modules import MODULE
from conformance.run.inprocess import run_suite
from conformance.run.journal import parse_event
from conformance.run.request import RunRequest
from conformance.run.session import BlockspecSession, active_session, cites_none_of, clause_of, shape_palette
from conformance.run.stash import NO_BACKEND, SESSION_KEY
from spec import ALL
from tests.helpers import ADAPTERS_DIR, cited, conformance_tests, pytester_output

ADAPTERS = """
from fake_adapters import MinimalBackend


class Declared(MinimalBackend):
    name = "declared-fake"
    capabilities = frozenset({"module-repr", "apply"})

    def version(self):
        return "1.2"

    def environment(self):
        return {"card": "fake card"}

    def apply(self, module, fn):
        return module

    def describe(self, module):
        return ""


class Unwell(MinimalBackend):
    name = "unwell-fake"

    def version(self):
        raise RuntimeError("no version file")

    def environment(self):
        raise OSError("no environment")
"""

#: Raised from here, an AssertionError is the framework's, not a clause check's.
FRAMEWORK_CODE = """
def forward():
    assert False, "shape mismatch deep in the framework"
"""

CONFTEST = "from conformance.run.fixtures import check  # noqa: F401\n"


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, backend: str, *extra: str) -> list[dict[str, Any]]:
    """Run pytester's files on ``backend`` in this process; the journal's events, each checked well-formed."""
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    pytester.syspathinsert()
    pytester.makepyfile(adapters=ADAPTERS, framework_code=FRAMEWORK_CODE)
    pytester.makeconftest(CONFTEST)
    options = ("-p", "no:cacheprovider", "--blockspec-backend", f"adapters:{backend}", "--blockspec-journal", "j.jsonl")
    result = pytester.runpytest_inprocess(*options, *extra, no_reraise_ctrlc=True)  # a test's KeyboardInterrupt
    path = pytester.path / "j.jsonl"
    assert path.exists(), f"observed no journal; expected one{pytester_output(result)}"
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event, problem = parse_event(line)
        assert event is not None and not problem, f"observed a malformed event {line!r}: {problem}"
        events.append(event)
    return events


def _finished(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The outcome of each finished test, by test name."""
    return {e["nodeid"].rpartition("::")[2]: e["outcome"] for e in events if e["event"] == "finish"}


# --- the stream of events ---------------------------------------------------------------------------------

THREE_TESTS = """
import pytest

@pytest.mark.clause("SEQ-INDEX")
def test_index():
    pass

@pytest.mark.clause("SEQ-ORDER")
def test_order():
    pass

@pytest.mark.clause("PARAM-TYPE")
def test_param():
    pass
"""


def test_a_run_is_told_as_begin_collected_start_and_finish_per_test_then_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_three=THREE_TESTS)
    selection = ("--blockspec-clause", "SEQ-INDEX", "--blockspec-clause", "SEQ-ORDER")
    events = _run(pytester, monkeypatch, "Declared", *selection, "--junitxml", "j.xml")
    kinds = [e["event"] for e in events]
    expected_kinds = ["begin", "collected", "start", "finish", "start", "finish", "end"]
    assert kinds == expected_kinds, f"observed events {kinds}; expected {expected_kinds} (no 'deselected')"
    begin, collected, end = events[0], events[1], events[-1]
    told = (begin["subject"], begin["capabilities"], begin["known"], begin["device"])
    assert told == ({"name": "declared-fake", "version": "1.2"}, ["apply", "module-repr"], {}, "cpu"), (
        f"observed begin {begin}; expected the subject, its capabilities sorted, no known failures and cpu"
    )
    every = {"test_three.py::test_index": "SEQ-INDEX", "test_three.py::test_order": "SEQ-ORDER"}
    every["test_three.py::test_param"] = "PARAM-TYPE"
    assert collected["all"] == every, f"observed all {collected['all']}; expected every test, unselected ones too"
    assert collected["selected"] == list(every)[:2], f"observed selected {collected['selected']}; expected two"
    pairs = [(e["event"], e["nodeid"], e["clause"]) for e in events[2:-1]]
    expected_pairs = [(kind, nodeid, every[nodeid]) for nodeid in list(every)[:2] for kind in ("start", "finish")]
    assert pairs == expected_pairs, f"observed {pairs}; expected {expected_pairs}"
    environment = end["environment"]
    told_end = (end["exitstatus"], end["interrupted"], end["stopped"], end["worker"], environment.get("card"))
    assert told_end == (0, "", "", "", "fake card"), f"observed end {end}; expected a clean end with the environment"
    assert environment["blockspec_shapes"] == "full: every size in its range" and "python" in environment, (
        f"observed environment {environment}; expected how sizes were drawn and the python version"
    )
    assert "blockspec_max_examples" not in environment, f"observed {environment}; expected no cap without one"
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(pytester.path / "j.xml").getroot().iter("testcase")
    }
    expected_properties = {
        name: {"clause": clause, "backend": "declared-fake", "device": "cpu"}
        for name, clause in (("test_index", "SEQ-INDEX"), ("test_order", "SEQ-ORDER"))
    }
    assert properties == expected_properties, f"observed JUnit properties {properties}; expected {expected_properties}"


def test_a_cap_on_examples_is_in_the_environment_of_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with fewer examples than its profile's says so: its verdicts are not the profile's."""
    pytester.makepyfile(test_three=THREE_TESTS)
    events = _run(pytester, monkeypatch, "Declared", "--blockspec-clause", "SEQ-INDEX", "--blockspec-max-examples", "2")
    told = events[-1]["environment"].get("blockspec_max_examples")
    assert told == "2 per test (--max-examples)", f"observed {told!r}; expected the cap of 2 recorded"


def test_a_thread_count_in_the_environment_is_recorded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_three=THREE_TESTS)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    events = _run(pytester, monkeypatch, "Declared", "--blockspec-clause", "SEQ-INDEX")
    told = events[-1]["environment"].get("omp_num_threads")
    assert told == "1", f"observed omp_num_threads {told!r}; expected the OMP_NUM_THREADS the run had ('1')"


def test_only_tests_of_selected_clauses_deselected_by_another_option_are_told(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_three=THREE_TESTS)
    selection = ("--blockspec-clause", "SEQ-INDEX", "--blockspec-clause", "SEQ-ORDER")
    events = _run(pytester, monkeypatch, "Declared", *selection, "-k", "not test_order and not test_param")
    told = [e["tests"] for e in events if e["event"] == "deselected"]
    why = "deselected by a pytest option or plugin (-k, -m, --deselect, PYTEST_ADDOPTS)"
    assert told == [{"test_three.py::test_order": why}], (
        f"observed deselected events {told}; expected test_order alone (test_param's clause was not selected)"
    )


def test_a_module_is_left_out_only_when_it_writes_out_its_clauses_and_none_is_selected(tmp_path: Path) -> None:
    module = tmp_path / "test_some.py"
    module.write_text("@pytest.mark.clause(\"SEQ-INDEX\")\ndef test_a(): ...\n@pytest.mark.clause('SEQ-ORDER')\n")
    cases = {frozenset({"SEQ-INDEX"}): False, frozenset({"SEQ-ORDER"}): False, frozenset({"IO-TENSOR"}): True}
    for selected, left_out in cases.items():
        assert cites_none_of(module, selected) is left_out, (
            f"observed left out {not left_out} for selected {sorted(selected)}; expected {left_out}"
        )
    made = tmp_path / "test_made.py"  # markers made at run time, as the module-contract suite's are
    made.write_text("for clause in TABLE:\n    pytest.mark.clause(clause)\n")
    assert not cites_none_of(made, frozenset({"IO-TENSOR"})), "observed a module without literal markers left out"


def test_every_suite_test_has_its_clause_written_out_in_its_module() -> None:
    """What lets a ``--clause`` run skip a module: no test's clause is missing from its module's literal markers."""
    unnamed = [
        f"{name} ({clause})"
        for name, function in conformance_tests(ALL)
        for clause in cited(function)
        if cites_none_of(Path(inspect.getfile(function)), frozenset({clause}))
    ]
    assert not unnamed, f"observed tests whose clause their module's source does not write out: {unnamed}"


def test_a_run_of_one_clause_imports_only_the_suite_module_that_tests_it() -> None:
    result = run_suite("reference", clauses=("SEQ-INDEX",), quiet=True, shrink=False)
    status = {c.id: c.status.value for c in result.clauses}["SEQ-INDEX"]
    imported = sorted(name for name in sys.modules if name.startswith("conformance.suite.test_"))
    assert status == "pass" and imported == ["conformance.suite.test_layers_and_blocks"], (
        f"observed SEQ-INDEX {status}, suite modules imported {imported}; expected pass, test_layers_and_blocks alone"
    )


def test_a_subject_that_cannot_say_its_version_or_environment_still_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_three=THREE_TESTS)
    events = _run(pytester, monkeypatch, "Unwell", "--blockspec-clause", "SEQ-INDEX")
    version, environment = events[0]["subject"]["version"], events[-1]["environment"]
    assert version == "unknown (RuntimeError)", f"observed version {version!r}; expected 'unknown (RuntimeError)'"
    error = environment.get("backend_environment_error")
    assert error == "OSError: no environment", f"observed environment {environment}; expected the error named"
    outcome = _finished(events)["test_index"]["outcome"]
    assert outcome == "passed", f"observed test_index {outcome}; expected it still passed"


def test_a_collection_error_is_told_when_the_tests_are_collected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_three=THREE_TESTS, test_broken="import no_such_module_here\n")
    events = _run(pytester, monkeypatch, "Declared")
    collected = next(e for e in events if e["event"] == "collected")
    errors = collected["errors"]
    assert len(errors) == 1 and errors[0].startswith("test_broken.py: "), f"observed errors {errors}; expected one"
    assert "no_such_module_here" in errors[0], f"observed {errors[0]!r}; expected the missing module named"


# --- how a test's end becomes its outcome -----------------------------------------------------------------

OUTCOMES = """
import pytest
from hypothesis import given, strategies as st

import framework_code
from conformance.kit.outcomes import not_applicable, skip


@pytest.fixture
def broken_setup():
    raise RuntimeError("fixture broke")


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")


@pytest.mark.clause("SEQ-INDEX")
def test_violation(check):
    check.equal(1, 0, "net[0]")


@pytest.mark.clause("SEQ-ORDER")
def test_framework_assert():
    framework_code.forward()


@pytest.mark.clause("PARAM-TYPE")
def test_setup_error(broken_setup):
    pass


@pytest.mark.clause("PARAM-LINEAR-STATE")
def test_teardown_error(broken_teardown):
    pass


@pytest.mark.clause("PARAM-NAMES-FLAT")
def test_fail_then_teardown_error(check, broken_teardown):
    check.equal(2, 3, "count")


@pytest.mark.clause("PARAM-NAMES-NESTED")
@given(x=st.integers(0, 100))
def test_falsified(check, x):
    check.true(x < 5, "x", x, "below 5")


@pytest.mark.clause("STATE-DICT-KEYS")
def test_violation_and_its_consequence(check):
    raise ExceptionGroup("two", [check.fail("keys", "a", "b"), KeyError("consequence")])


@pytest.mark.clause("INIT-ZEROS")
def test_not_applicable():
    not_applicable("the backend has no zeros")


@pytest.mark.clause("INIT-CONSTANT")
def test_clause_skip():
    skip("no accelerator present")


@pytest.mark.clause("INIT-UNIFORM")
def test_pytest_skip():
    pytest.skip("plain skip")


@pytest.mark.clause("APPLY-VISITS-ONCE")
def test_needs_apply(request):
    (request.config.rootpath / "apply-ran").write_text("")
"""


@pytest.fixture
def outcomes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Each test of OUTCOMES's outcome, on a backend that declares no capability."""
    pytester.makepyfile(test_outcomes=OUTCOMES)
    return _finished(_run(pytester, monkeypatch, "MinimalBackend"))


def test_a_clause_check_is_a_fail_and_anything_else_raised_an_error(outcomes: dict[str, dict[str, Any]]) -> None:
    expected = {
        "test_violation": ("failed", "[SEQ-INDEX] minimal-fake on cpu: net[0]"),
        "test_framework_assert": (
            "error",
            "AssertionError: shape mismatch deep in the framework (raised inside the framework, not by a clause check)",
        ),
        "test_setup_error": ("error", "setup error: RuntimeError: fixture broke"),
        "test_teardown_error": ("error", "teardown error: RuntimeError: teardown broke"),
        "test_fail_then_teardown_error": ("failed", "[PARAM-NAMES-FLAT] minimal-fake on cpu: count"),
    }
    for test, (outcome, start) in expected.items():
        told = outcomes.get(test)
        assert told is not None and told["outcome"] == outcome and told["message"].startswith(start), (
            f"{test}: observed {told}; expected {outcome} with a message starting {start!r}"
        )
    where = outcomes["test_framework_assert"]["message"]
    assert where.endswith("framework_code.py:2)"), f"observed {where!r}; expected where the framework raised it"


def test_a_violation_beside_other_exceptions_is_the_fail_alone(outcomes: dict[str, dict[str, Any]]) -> None:
    told = outcomes["test_violation_and_its_consequence"]
    message = told["message"]
    assert told["outcome"] == "failed" and message.startswith("[STATE-DICT-KEYS]"), f"observed {told}; expected fail"
    assert "consequence" not in message, f"observed {message!r}; expected the KeyError left out as a consequence"


def test_a_falsified_property_keeps_its_example_and_how_to_reproduce_it(
    outcomes: dict[str, dict[str, Any]],
) -> None:
    told = outcomes["test_falsified"]
    example = told["example"]
    shown = bool(example) and example[0].startswith(("Falsifying example", "Failing test case")) and "x=5" in example[2]
    assert told["outcome"] == "failed" and shown, (
        f"observed outcome {told['outcome']} with example {example}; expected fail with hypothesis's shrunk x=5"
    )
    assert "@reproduce_failure(" in told["reproduce"], f"observed reproduce {told['reproduce']!r}; expected the blob"


def test_a_skip_says_its_kind_and_an_undeclared_capability_stops_the_test_before_it_runs(
    pytester: pytest.Pytester, outcomes: dict[str, dict[str, Any]]
) -> None:
    expected = {
        "test_not_applicable": ("not-applicable", "the backend has no zeros"),
        "test_clause_skip": ("skipped", "no accelerator present"),
        "test_pytest_skip": ("skipped", "plain skip"),
        "test_needs_apply": ("not-applicable", "minimal-fake does not declare capability apply"),
    }
    for test, (outcome, message) in expected.items():
        told = outcomes[test]
        assert (told["outcome"], told["message"]) == (outcome, message), (
            f"{test}: observed {told['outcome']} {told['message']!r}; expected {outcome} {message!r}"
        )
    assert not (pytester.path / "apply-ran").exists(), "observed the gated test's body run; expected it never started"


KEYBOARD_INTERRUPT = """
import pytest

@pytest.mark.clause("SEQ-INDEX")
def test_interrupts():
    raise KeyboardInterrupt

@pytest.mark.clause("SEQ-ORDER")
def test_never_reached():
    pass
"""


def test_a_keyboard_interrupt_raised_inside_a_test_is_its_error_and_says_why_the_run_stopped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_interrupt=KEYBOARD_INTERRUPT)
    events = _run(pytester, monkeypatch, "MinimalBackend")
    finished = _finished(events)
    told = finished.get("test_interrupts")
    why = "KeyboardInterrupt raised inside this test (by the backend: no Ctrl-C reached blockspec)"
    assert told is not None and (told["outcome"], told["message"]) == ("error", why), (
        f"observed {told}; expected error {why!r}"
    )
    assert "test_never_reached" not in finished, f"observed {sorted(finished)} finished; expected the run stopped"
    end = events[-1]
    stopped = "pytest stopped after a KeyboardInterrupt raised inside test_interrupts"
    assert (end["stopped"], end["interrupted"]) == (stopped, ""), f"observed end {end}; expected {stopped!r}"


# --- what the run sets for the whole process, and puts back ------------------------------------------------

SHRINK_BUDGET = """
import json
import pytest
from hypothesis import configuration, settings
from hypothesis.internal.conjecture import engine, providers

@pytest.mark.clause("SEQ-INDEX")
def test_reads_the_budget(request):
    literals = len(providers._get_local_constants().integers)  # this very file holds some
    home = str(configuration.storage_directory("probe", intent_to_write=False).home_directory)
    seen = [engine.MAX_SHRINKING_SECONDS, settings.get_current_profile_name(), literals, home]
    (request.config.rootpath / "budget.json").write_text(json.dumps(seen))
"""


@pytest.mark.parametrize(("timeout", "budget"), [("10", 4), ("1", 1), ("5000", 300)])
def test_shrinking_gets_a_share_of_the_test_timeout_and_the_process_gets_its_settings_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, timeout: str, budget: int
) -> None:
    monkeypatch.setattr(engine, "MAX_SHRINKING_SECONDS", 123)
    monkeypatch.setenv("XDG_CACHE_HOME", str(pytester.path / "cache"))
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    before = settings.get_current_profile_name()
    literals = providers._get_local_constants  # hypothesis' pool of literals found in the modules loaded
    home = configuration.storage_directory("probe", intent_to_write=False).home_directory
    pytester.makepyfile(test_budget=SHRINK_BUDGET)
    _run(pytester, monkeypatch, "MinimalBackend", "--blockspec-timeout", timeout, "--blockspec-profile", "fast")
    seen = json.loads((pytester.path / "budget.json").read_text(encoding="utf-8"))
    cache = str(pytester.path / "cache" / "blockspec" / "hypothesis")  # not .hypothesis/ where the user stands
    assert seen == [budget, "blockspec-fast", 0, cache], (
        f"--blockspec-timeout {timeout}: observed shrink budget, profile, literals pooled and hypothesis' home "
        f"{seen}; expected [{budget}, blockspec-fast, 0, {cache}]"
    )
    after = (engine.MAX_SHRINKING_SECONDS, settings.get_current_profile_name(), providers._get_local_constants)
    assert after == (123, before, literals), f"observed {after} after the run; expected (123, {before!r}, ...) put back"
    back = configuration.storage_directory("probe", intent_to_write=False).home_directory
    assert back == home, f"observed hypothesis' home {back} after the run; expected {home} put back"


# --- the session's parts, each alone ----------------------------------------------------------------------


@pytest.fixture
def prepared_fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    return RunRequest("fake_adapters:MinimalBackend").prepare()


@pytest.mark.parametrize(
    ("worker", "controller", "told"),
    [("", False, ["start", "finish", "end"]), ("gw1", False, ["start", "finish", "end"]), ("", True, ["end"])],
    ids=["one process", "xdist worker", "xdist controller"],
)
def test_under_xdist_the_workers_tell_tests_and_the_controller_only_the_end(
    prepared_fake: Any, worker: str, controller: bool, told: list[str]
) -> None:
    session = BlockspecSession(prepared_fake, worker=worker, controller=controller)
    events: list[dict[str, Any]] = []
    session.sinks.append(lambda event: events.append(dict(event)))
    try:
        session.pytest_runtest_logstart("t.py::test_a")
        session.pytest_runtest_logfinish("t.py::test_a")
        session.pytest_sessionfinish_said_first(0)
    finally:
        session.pytest_unconfigure(None)  # type: ignore[arg-type]  # puts the process's settings back
    kinds = [e["event"] for e in events]
    assert kinds == told, f"worker {worker!r}, controller {controller}: observed {kinds}; expected {told}"
    assert events[-1]["worker"] == worker, f"observed end {events[-1]}; expected worker {worker!r}"


def test_a_module_under_check_draws_no_palette_whatever_shapes_say(monkeypatch: pytest.MonkeyPatch) -> None:
    compiling = type("Compiling", (), {"compiles_per_shape": True})()
    cases = {
        "module, palette asked": (RunRequest("pkg:make", subject=MODULE, shapes="palette"), None),
        "framework, palette asked": (RunRequest("x", shapes="palette", seed=5), 5),
        "framework that compiles": (RunRequest("x", seed=2), 2),
        "compiles, full asked": (RunRequest("x", shapes="full"), None),
    }
    for case, (request, seed) in cases.items():
        prepared = type("Prepared", (), {"request": request, "subject": compiling})()
        palette = shape_palette(prepared)
        observed = None if palette is None else palette.seed
        assert observed == seed, f"{case}: observed palette seed {observed}; expected {seed}"


def test_a_stash_without_a_session_is_one_clear_usage_error(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    for case, kept in {"nothing kept": None, "something else kept": object()}.items():
        if kept is not None:
            config.stash[SESSION_KEY] = kept
        with pytest.raises(pytest.UsageError) as info:
            active_session(config)
        assert str(info.value) == NO_BACKEND, f"{case}: observed {info.value}; expected {NO_BACKEND!r}"


def test_a_clause_marker_without_an_id_cites_no_clause(pytester: pytest.Pytester) -> None:
    items = pytester.getitems(
        """
        import pytest

        @pytest.mark.clause
        def test_bare():
            pass

        @pytest.mark.clause("SEQ-INDEX", "ignored")
        def test_first():
            pass

        def test_none():
            pass
        """
    )
    cited = {item.name: clause_of(item) for item in items}
    expected = {"test_bare": None, "test_first": "SEQ-INDEX", "test_none": None}
    assert cited == expected, f"observed {cited}; expected {expected}"
