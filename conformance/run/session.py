"""One conformance run inside pytest: capability gating, recording each test's outcome as an event.

The session is registered as a pytest plugin by ``conformance.plugin``. It
turns what pytest does into the events of :mod:`conformance.run.verdicts`,
applies them to its own :class:`~conformance.run.verdicts.Ledger` and hands
them to every sink (the journal of an isolated child). At the end of an
in-process run it builds the result from its ledger, through the same
:func:`~conformance.run.verdicts.build_result` the isolated parent uses.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conformance._interrupt import user_interrupted
from conformance._version import tool_version
from conformance.kit import profiles, strategies
from conformance.kit.outcomes import not_applicable
from conformance.run.request import SHRINK_SHARE, Prepared
from conformance.run.result import RunResult, TestOutcome, write_json
from conformance.run.stash import NO_BACKEND, SESSION_KEY
from conformance.run.status import Outcome
from conformance.run.verdicts import Ledger, build_result

Sink = Callable[[Mapping[str, Any]], None]


def clause_of(item: pytest.Item) -> str | None:
    """The clause id an item's ``clause`` marker cites, if any."""
    marker = item.get_closest_marker("clause")
    if marker is None or not marker.args:
        return None
    return str(marker.args[0])


#: A clause marker written out in a test module's source: ``@pytest.mark.clause("SEQ-INDEX")``.
_CITED = re.compile(r"""mark\.clause\(\s*["']([^"']+)["']""")


def cites_none_of(module: Path, selected: frozenset[str]) -> bool:
    """Whether the test module ``module`` names its clauses in literal markers, none of them ``selected``.

    Such a module holds no test a ``--clause`` run keeps, so it need not be imported: a run of one
    clause imports one of the suite's modules, not five. A module that makes its markers at run time
    (the module-contract suite's, from the contract table) cites nothing literally and is always
    collected. tests/run/test_session.py holds every suite module to this: each test's clause is
    written out in its module.
    """
    cited = set(_CITED.findall(module.read_text(encoding="utf-8")))
    return bool(cited) and not cited & selected


def active_session(config: pytest.Config) -> BlockspecSession:
    """The running blockspec session, or a clear error when none is configured."""
    session = config.stash.get(SESSION_KEY, None)
    if not isinstance(session, BlockspecSession):
        raise pytest.UsageError(NO_BACKEND)
    return session


class BlockspecSession:
    """The state of one run; registered as a pytest plugin for its hooks."""

    def __init__(self, prepared: Prepared, *, worker: str = "", controller: bool = False) -> None:
        self.prepared = prepared
        #: Under pytest-xdist (``-n``): the worker's id in a worker, and ``controller`` in the process that
        #: only hands tests out; the workers record, the controller's events are the run's begin and end.
        self.worker, self.controller = worker, controller
        self.request = prepared.request
        self.catalogue = prepared.catalogue
        self.subject = prepared.subject  # a backend, a module under check, or a pair of frameworks
        self.backend = prepared.backend  # the same, as the framework suite's fixture hands it out
        self.device, self.profile = prepared.device, self.request.profile
        self.ledger = Ledger()
        self.sinks: list[Sink] = []
        self.started = datetime.now(UTC)
        self.clock = time.perf_counter()
        self.result: RunResult | None = None
        self._clauses: dict[str, str] = {}
        self._pending: dict[str, TestOutcome] = {}  # tests still in setup, call or teardown
        self._interrupted = ""  # the user's Ctrl-C
        self._stopped = ""  # any other reason the session stopped early
        # What the run sets for the whole process (hypothesis's default profile, its shrinking budget, its pool of
        # literals found in the modules imported: none) and the palette it draws sizes from (a context variable)
        # are put back when the run ends: an in-process run (check_module in a user's own test suite) leaves
        # their hypothesis settings as it found them.
        self._restore = _global_state()
        profiles.load_profile(
            self.profile,
            shrink=self.request.shrink,
            seeded=self.request.seed is not None,
            max_examples=self.request.max_examples,
        )
        _bound_shrinking(self.request.timeout)
        self.palette = shape_palette(prepared)
        self._palette_token = strategies.use_palette(self.palette)

    def emit(self, **event: Any) -> None:
        """Apply one event to the ledger and hand it to every sink."""
        self.ledger.apply(event)
        for sink in self.sinks:
            sink(event)

    def subject_info(self) -> dict[str, str]:
        """The backend's name and version, as result files record them."""
        return {"name": self.subject.name, "version": _safe(self.subject.version)}

    # --- collection --------------------------------------------------------------
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Leave out a test module none of whose tests the run keeps (``--clause``): see :func:`cites_none_of`."""
        selected = self.prepared.selected
        is_test_module = collection_path.suffix == ".py" and collection_path.name.startswith("test_")
        if selected is not None and is_test_module and cites_none_of(collection_path, selected):
            return True
        return None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        known = {cid: {"reason": k.reason, "link": k.link} for cid, k in self.prepared.known.items()}
        self.emit(
            event="begin",
            subject=self.subject_info(),
            capabilities=sorted(self.subject.capabilities),
            known=known,
            device=self.device,
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr).strip().splitlines()
            self.ledger.collection_errors.append(f"{report.nodeid or 'collection'}: {text[-1] if text else 'failed'}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Note every test before any option or plugin deselects one; mark known failures.

        A clause the spec marks not waivable gets no xfail mark: its test fails
        (or errs) as any other, so progress lines, JUnit and the verdict agree.
        """
        self._clauses = {item.nodeid: clause_of(item) or "" for item in items}
        for item in items:
            cid = clause_of(item) or ""
            known = self.prepared.known.get(cid)
            if known is not None and (cid not in self.catalogue or self.catalogue[cid].waivable):
                item.add_marker(pytest.mark.xfail(reason=known.describe(), strict=False))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Keep the selected clauses' tests only, before pytest-xdist sends a worker's collection.

        xdist's controller hands tests out by their index in the list a worker reports from this hook;
        a list cut down after it would run other tests than the ones handed out.
        """
        selected = self.prepared.selected
        if selected is not None:
            keep = [i for i in session.items if clause_of(i) in selected]
            drop = [i for i in session.items if clause_of(i) not in selected]
            if drop:
                session.config.hook.pytest_deselected(items=drop)
                session.items[:] = keep
        errors = list(self.ledger.collection_errors)
        self.emit(event="collected", all=self._clauses, selected=[i.nodeid for i in session.items], errors=errors)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        selected = self.prepared.selected
        tests = {
            i.nodeid: "deselected by a pytest option or plugin (-k, -m, --deselect, PYTEST_ADDOPTS)"
            for i in items
            if selected is None or clause_of(i) in selected
        }
        if tests:
            self.emit(event="deselected", tests=tests)

    # --- running -----------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if not self.controller:
            self.emit(event="start", nodeid=nodeid, clause=self._clauses.get(nodeid, ""))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        clause_id = clause_of(item)
        if clause_id is None or clause_id not in self.catalogue:
            return
        # pytest's --junitxml writes these as <property> of the testcase, so CI systems can group by clause.
        item.user_properties += [("clause", clause_id), ("backend", self.subject.name), ("device", self.device)]
        missing = [c for c in self.catalogue[clause_id].requires if c not in self.subject.capabilities]
        if missing:
            not_applicable(f"{self.subject.name} does not declare capability {', '.join(missing)}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """A known failure is not shrunk: it must be a fast verdict, not minutes of search.

        A ``@given`` test holds the settings it was decorated with (the
        profile at import time) in hypothesis's ``_hypothesis_internal_use_settings``;
        for a known failure that attribute is swapped for a copy without the
        shrink phase during the call, and put back after it.
        """
        test = getattr(item, "obj", None)
        attribute = "_hypothesis_internal_use_settings"
        if (clause_of(item) or "") not in self.prepared.known or not hasattr(test, attribute):
            return (yield)
        from hypothesis import Phase, settings

        original = getattr(test, attribute)
        setattr(test, attribute, settings(original, phases=[p for p in original.phases if p is not Phase.shrink]))
        try:
            return (yield)
        finally:
            setattr(test, attribute, original)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        clause_id = clause_of(item)
        if clause_id is not None:
            self._record(item, clause_id, call, report)
        return report

    def _record(
        self, item: pytest.Item, clause_id: str, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        nodeid = item.nodeid
        previous = self._pending.get(nodeid)
        if report.when == "teardown" and report.passed:
            return
        if previous is not None and previous.outcome in (Outcome.FAILED, Outcome.ERROR):
            return  # the first failure of a test is the one to report
        expected_failure = getattr(report, "wasxfail", None)
        if expected_failure is not None and report.skipped:
            # Keep what failed (message, example) under the reason, so a known failure stays inspectable.
            detail = failure_outcome(nodeid, call, report) if call.excinfo is not None else None
            message = _xfail_reason(expected_failure) + (f"\n{detail.message}" if detail else "")
            self._pending[nodeid] = TestOutcome(
                nodeid,
                Outcome.XFAIL,
                report.duration,
                message,
                detail.example if detail else [],
                detail.reproduce if detail else "",
            )
        elif report.skipped:
            kind, reason = Outcome.SKIPPED, _skip_reason(report)
            raised = call.excinfo.value if call.excinfo is not None else None
            # A clause's skip carries its kind (conformance.kit.outcomes.ClauseSkipped: kind, reason).
            if getattr(raised, "kind", None) in (Outcome.SKIPPED, Outcome.NOT_APPLICABLE):
                kind, reason = Outcome(raised.kind), str(getattr(raised, "reason", reason))  # type: ignore[union-attr]
            self._pending[nodeid] = TestOutcome(nodeid, kind, report.duration, reason)
        elif report.passed:
            if report.when == "call" and expected_failure is not None:
                message = f"unexpected pass: the clause is listed as a {_xfail_reason(expected_failure)}"
                self._pending[nodeid] = TestOutcome(nodeid, Outcome.XPASSED, report.duration, message)
            elif report.when == "call":
                self._pending[nodeid] = TestOutcome(nodeid, Outcome.PASSED, report.duration)
        else:
            self._pending[nodeid] = failure_outcome(nodeid, call, report)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if self.controller:
            return
        outcome = self._pending.pop(nodeid, None)
        self.emit(
            event="finish",
            nodeid=nodeid,
            clause=self._clauses.get(nodeid, ""),
            outcome=None if outcome is None else outcome.to_json(),
        )

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """An interrupt: the user's Ctrl-C, or a ``KeyboardInterrupt`` the backend raised inside a test."""
        running = self.ledger.running
        if user_interrupted():
            self._interrupted = "interrupted by the user (Ctrl-C)"
        elif running is not None:
            name = type(excinfo.value).__name__
            raised = f"{name} raised inside this test (by the backend: no Ctrl-C reached blockspec)"
            self._pending[running] = TestOutcome(running, Outcome.ERROR, 0.0, raised)
            self.pytest_runtest_logfinish(running)
            self._stopped = f"pytest stopped after a {name} raised inside {running.rpartition('::')[2]}"
        else:
            self._stopped = f"pytest stopped after a {type(excinfo.value).__name__} outside any test"

    # --- the end -----------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")  # pytest reads only names pytest_*
    def pytest_sessionfinish_said_first(self, exitstatus: int) -> None:
        """Say the session ended, before pytest-xdist takes its workers down.

        Every verdict is in by then. Taking a worker down waits for its process to end, up to twice
        xdist's 10 s, when a test left a thread running or forked a process that holds the worker's
        pipes; told first, the parent's grace period (``isolate._END_GRACE_S``) bounds that wait.
        """
        self.emit(
            event="end",
            environment={**_environment(self.subject), **self._drawn()},
            exitstatus=int(exitstatus),
            interrupted=self._interrupted,
            stopped=self._stopped,
            worker=self.worker,
        )

    def _drawn(self) -> dict[str, str]:
        """How this run drew its examples beyond its profile, as the result file's environment records it."""
        drawn = {"blockspec_shapes": describe_shapes(self.palette)}
        if self.request.max_examples is not None:
            drawn["blockspec_max_examples"] = f"{self.request.max_examples} per test (--max-examples)"
        return drawn

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        request = self.request
        self.result = build_result(
            self.ledger,
            self.catalogue,
            target=request.target,
            device=self.device,
            profile=self.profile,
            selected=self.prepared.selected,
            rerun=request.rerun_template(),
            started=self.started.isoformat(timespec="seconds"),
            duration_s=time.perf_counter() - self.clock,
            tool={"name": "blockspec", "version": tool_version()},
        )
        if request.json_path is not None:
            write_json(self.result, request.json_path)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._restore()
        strategies.restore_palette(self._palette_token)  # a later run in this process draws as before this one

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is None:
            return
        from conformance.run.summary import summary_lines

        terminalreporter.section("blockspec conformance")
        for line in summary_lines(self.result):
            terminalreporter.write_line(line)


def _global_state() -> Callable[[], None]:
    """A function that puts back what a session changes for the whole process (see ``BlockspecSession``).

    Hypothesis' pool of literals from the modules imported is emptied, and its home directory moved to
    blockspec's cache, here, at once; the rest the session sets.
    """
    from hypothesis import settings
    from hypothesis.internal.conjecture import engine

    profile, shrinking = settings.get_current_profile_name(), engine.MAX_SHRINKING_SECONDS
    constants_back = profiles.without_local_constants()  # the run's examples depend on its tests only
    home_back = profiles.hypothesis_home_in_cache()  # no .hypothesis/ left in the user's working directory

    def restore() -> None:
        settings.load_profile(profile)
        engine.MAX_SHRINKING_SECONDS = shrinking  # type: ignore[misc]
        constants_back()
        home_back()

    return restore


def _bound_shrinking(timeout: float) -> None:
    """Shrinking a failure stops after a share of the per-test timeout, so a found failure is reported.

    Hypothesis keeps its shrinking budget in ``engine.MAX_SHRINKING_SECONDS``
    (300 s) and documents it as the knob to turn; past it the failure is
    reported as shrunk so far. Without a bound, a slow framework's shrink
    outlives ``--timeout`` and the counterexample is lost to a hang.
    """
    from hypothesis.internal.conjecture import engine

    engine.MAX_SHRINKING_SECONDS = max(1, int(min(300.0, timeout * SHRINK_SHARE)))  # type: ignore[misc]


def _xfail_reason(wasxfail: str) -> str:
    return wasxfail.removeprefix("reason: ") or "expected to fail"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


_EXAMPLE_NOTES = ("Falsifying", "Failing test case", "Draw ", "Trying example")


def failure_outcome(nodeid: str, call: pytest.CallInfo[None], report: pytest.TestReport) -> TestOutcome:
    """A failed or errored test: a clause violation is ``failed``; anything else the code raised is ``error``.

    A violation is a :class:`~conformance.kit.checks.ClauseViolation`, or an
    ``AssertionError`` raised by the test's own code; an ``AssertionError``
    raised inside the framework is the framework failing, so ``error``.
    """
    excinfo = call.excinfo
    if excinfo is None:
        return TestOutcome(
            nodeid, Outcome.ERROR, report.duration, f"{report.when} failed: {report.longreprtext[-500:]}"
        )
    exc = excinfo.value
    notes = _notes(exc)
    example = [line for n in notes if n.startswith(_EXAMPLE_NOTES) for line in n.splitlines()]
    reproduce = next((n.strip() for n in notes if "@reproduce_failure" in n), "")
    leaves = _leaf_exceptions(exc)
    test_file = nodeid.partition("::")[0]
    violations = [e for e in leaves if _is_violation(e, test_file)]
    if report.when == "call" and violations:
        # Other exceptions next to a violation (hypothesis found several) are its consequences.
        return TestOutcome(
            nodeid, Outcome.FAILED, report.duration, "\n".join(str(e) for e in violations), example, reproduce
        )
    crash = getattr(report.longrepr, "reprcrash", None)
    where = f" (at {crash.path}:{crash.lineno})" if crash is not None else ""
    message = "\n".join(_describe(e) for e in (leaves or [exc])) + where
    if report.when != "call":
        message = f"{report.when} error: {message}"
    return TestOutcome(nodeid, Outcome.ERROR, report.duration, message, example, reproduce)


def _is_violation(exc: BaseException, test_file: str) -> bool:
    from conformance.kit.checks import ClauseViolation

    if isinstance(exc, ClauseViolation):
        return True
    if not isinstance(exc, AssertionError):
        return False
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    # A bare assert of the test itself is a violation; one deep in a framework is the framework failing.
    return last is None or Path(last).as_posix().endswith(Path(test_file).as_posix().split("/", 1)[-1])


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, AssertionError):
        text += " (raised inside the framework, not by a clause check)"
    return text


def _leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaf_exceptions(sub)]
    return [exc]


def _notes(exc: BaseException) -> list[str]:
    notes = list(getattr(exc, "__notes__", []) or [])
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            notes += _notes(sub)
    return notes


def _safe(fn: Any) -> str:
    try:
        return str(fn())
    except Exception as exc:  # a report must not die on a version lookup
        return f"unknown ({type(exc).__name__})"


def shape_palette(prepared: Prepared) -> strategies.Palette | None:
    """The palette a run draws sizes from (``--shapes``; by default, for a backend that compiles per shape).

    A module under check draws no sizes of its own (its input shapes are the user's), so it never has one.
    """
    request = prepared.request
    if not request.subject.draws_sizes:
        return None
    shapes = request.shapes or ("palette" if getattr(prepared.subject, "compiles_per_shape", False) else "full")
    return strategies.palette_for(request.seed or 0) if shapes == "palette" else None


def describe_shapes(palette: strategies.Palette | None) -> str:
    """How a run drew its sizes, as its result file records it."""
    if palette is None:
        return "full: every size in its range"
    return f"palette (seed {palette.seed}): {', '.join(map(str, palette.values))} and each range's ends"


def _environment(backend: Any) -> dict[str, str]:
    env = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}
    if "OMP_NUM_THREADS" in os.environ:  # set by the user, or shared out by -n N (conformance.run.isolate)
        env["omp_num_threads"] = os.environ["OMP_NUM_THREADS"]
    try:
        env.update({str(k): str(v) for k, v in backend.environment().items()})
    except Exception as exc:
        env["backend_environment_error"] = f"{type(exc).__name__}: {exc}"
    return env
