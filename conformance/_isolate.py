"""Crash and hang isolation: the suite runs in a child process that keeps a journal.

A backend may raise, hang, or kill its own process (``os._exit``, a
segfault) inside one clause's test. The run must still leave a complete
report. So ``blockspec run`` starts the suite in a child process with
:class:`Journal` registered; the journal writes one JSON line per event
(collected tests, test started, test finished with its outcome), flushed as
it goes. The parent watches it:

* a test that has run longer than ``timeout`` seconds is a hang: the parent
  kills the child's whole process group;
* a child that dies before the end of the session (killed, a signal, an
  ``os._exit``) leaves a test started and never finished.

That test gets the outcome ``error`` with the reason (and the tail of the
child's output, where Python's faulthandler prints a crash's traceback), and
the parent starts a new child that deselects every test already decided.
The parent then aggregates every outcome into one result, exactly as an
in-process run does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest

from conformance._errors import UsageError
from conformance._progress import Reporter, make_reporter
from conformance._results import (
    RunResult,
    TestOutcome,
    aggregate,
    check_writable,
    rerun_template,
    write_json,
    write_text_atomic,
)
from conformance._runner import RunRequest
from conformance._session import TOOL_VERSION, clause_of
from conformance.plugin import SESSION_KEY
from spec import load_catalogue

#: Seconds one test may run before it counts as hung (``--timeout``).
DEFAULT_TIMEOUT_S = 300.0

_POLL_S = 0.05
_LOG_TAIL_LINES = 25


# --- the child's side ---------------------------------------------------------------------


class Journal:
    """A pytest plugin writing the run's events as JSON lines to ``path`` (child side)."""

    def __init__(self, path: Path, config: pytest.Config) -> None:
        self.handle: IO[str] = path.open("a", encoding="utf-8")
        self.config = config
        self.clauses: dict[str, str] = {}

    def _write(self, **event: Any) -> None:
        self.handle.write(json.dumps(event) + "\n")
        self.handle.flush()  # into the kernel: it survives the process dying

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.clauses = {item.nodeid: clause_of(item) or "" for item in session.items}
        backend = session.config.stash[SESSION_KEY].backend_info()
        self._write(event="collected", tests=list(self.clauses), backend=backend)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._write(event="start", nodeid=nodeid, clause=self.clauses.get(nodeid, ""))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        clause = self.clauses.get(nodeid, "")
        session = self.config.stash[SESSION_KEY]
        outcome = session.outcomes.get(clause, {}).get(nodeid)
        self._write(event="finish", nodeid=nodeid, clause=clause, outcome=None if outcome is None else asdict(outcome))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        result = session.config.stash[SESSION_KEY].result
        self._write(event="end", environment=None if result is None else result.environment)
        self.handle.close()


# --- the parent's side ------------------------------------------------------------------------


@dataclass
class _Progress:
    """What the parent has learnt from the journals so far."""

    outcomes: dict[str, tuple[str, TestOutcome]] = field(default_factory=dict)  # node id -> (clause, outcome)
    backend: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    running: str | None = None
    running_clause: str = ""
    running_since: float = 0.0
    last_event: float = 0.0
    ended: bool = False
    reporter: Reporter | None = None

    def read(self, lines: Sequence[str]) -> None:
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            self.last_event = time.monotonic()
            kind = event["event"]
            if kind == "collected":
                self.backend = event["backend"]
                if self.reporter:  # the first child collects every test; later ones only those left
                    self.reporter.collected(len(event["tests"]) + len(self.outcomes))
            elif kind == "start":
                self.running, self.running_since = event["nodeid"], time.monotonic()
                self.running_clause = event["clause"]
                if self.reporter:
                    self.reporter.started(event["nodeid"], event["clause"])
            elif kind == "finish":
                if event["outcome"] is not None:
                    outcome = TestOutcome(**event["outcome"])
                    self.outcomes[event["nodeid"]] = (event["clause"], outcome)
                    if self.reporter:
                        self.reporter.finished(event["clause"], outcome)
                self.running = None
            elif kind == "end":
                self.environment = event.get("environment") or {}
                self.ended = True


def run_isolated(
    request: RunRequest,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    quiet: bool = False,
    junitxml: Path | None = None,
) -> RunResult:
    """Run ``request`` in child processes, surviving exceptions, hangs and crashes of any one test.

    Progress goes to stdout (a live line on a terminal, one plain line per
    test otherwise) unless ``quiet`` or ``request.verbose`` (pytest's own
    output). ``junitxml`` gets one JUnit file for the whole run, crashed
    tests included.
    """
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout:g}")
    known = request.check()
    if junitxml is not None:
        check_writable(junitxml)
    catalogue = load_catalogue()
    # The parent writes the result file; the children only keep the journal.
    args = replace(request, json_path=None).pytest_arguments()
    backend, device, profile, verbose = request.backend, request.device, request.profile, request.verbose
    started, clock = datetime.now(UTC), time.perf_counter()
    progress = _Progress(reporter=None if quiet or verbose else make_reporter())
    with _terminate_as_exit(), tempfile.TemporaryDirectory(prefix="blockspec-") as tmp:
        for segment in range(10_000):
            journal = Path(tmp) / f"journal-{segment}.jsonl"
            deselect = [arg for nodeid in progress.outcomes for arg in ("--deselect", nodeid)]
            command = [sys.executable, "-m", "pytest", *args, "--blockspec-journal", str(journal), *deselect]
            returncode, hung, tail = _run_child(command, journal, progress, timeout, verbose, Path(tmp))
            if progress.ended and not hung:
                break
            victim = progress.running
            if victim is None:
                raise UsageError(
                    f"the conformance suite's process ended (status {returncode}) outside any test; "
                    f"its last output:\n{tail}"
                )
            reason = _death_reason(returncode, hung, timeout)
            message = f"{reason}\n{tail}" if tail else reason
            crashed = TestOutcome(victim, "error", time.monotonic() - progress.running_since, message)
            progress.outcomes[victim] = (progress.running_clause, crashed)
            if progress.reporter:
                progress.reporter.finished(progress.running_clause, crashed)
            progress.running, progress.ended = None, False
            print(f"blockspec: {victim}: {reason}; going on with the other tests", file=sys.stderr)
        if progress.reporter:
            progress.reporter.close()
        if junitxml is not None:
            name = progress.backend.get("name", backend)
            write_text_atomic(junitxml, junit_document(list(progress.outcomes.values()), name, device))
    outcomes: dict[str, list[TestOutcome]] = {}
    for clause, outcome in progress.outcomes.values():
        outcomes.setdefault(clause, []).append(outcome)
    selected = set(request.clauses) or None
    results = aggregate(catalogue, outcomes, selected, rerun_template(backend, device, profile), known)
    result = RunResult(
        backend={**progress.backend, "adapter": backend},
        device=device,
        profile=profile,
        clauses=results,
        started=started.isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - clock,
        environment=progress.environment,
        tool={"name": "blockspec", "version": TOOL_VERSION},
    )
    if request.json_path is not None:
        write_json(result, request.json_path)
    return result


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) while running, so the child is killed on the way out.

    Python's default for SIGTERM ends the process at once, cleanup skipped.
    Signal handlers can only be set from the main thread; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_child(
    command: list[str], journal: Path, progress: _Progress, timeout: float, verbose: bool, tmp: Path
) -> tuple[int, bool, str]:
    """Run one child until it ends or hangs; returns (exit status, hung, tail of its output)."""
    log_path = tmp / f"{journal.stem}.log"
    journal.touch()
    with log_path.open("w", encoding="utf-8") as log, journal.open(encoding="utf-8") as reader:
        output: IO[str] | None = None if verbose else log
        child = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT if output else None, start_new_session=True
        )
        progress.last_event = time.monotonic()
        hung = False
        pending = ""
        try:
            while True:
                returncode = child.poll()
                chunk = reader.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    progress.read(lines)
                if returncode is not None:
                    progress.read([pending] if pending.endswith("}") else [])
                    break
                now = time.monotonic()
                waiting_since = progress.running_since if progress.running else progress.last_event
                if now - waiting_since > timeout:
                    hung = True
                    _kill_group(child)
                    child.wait()
                    returncode = child.returncode
                    break
                time.sleep(_POLL_S)
        except BaseException:
            # Ctrl-C, or SIGTERM from a CI job's timeout (see _terminate_as_exit): the child runs in its
            # own session, so nothing else would stop it; it must not outlive the run.
            _kill_group(child)
            child.wait()
            raise
    tail = "" if verbose else _tail(log_path)
    return returncode, hung, tail


def junit_document(outcomes: Sequence[tuple[str, TestOutcome]], backend: str, device: str) -> str:
    """JUnit XML of a run, built from the journal (so tests of a crashed process are in it too).

    Each testcase carries its clause, backend and device as properties, like
    pytest's own ``--junitxml`` output of the suite.
    """
    from xml.etree import ElementTree as ET

    suite = ET.Element("testsuite", name="blockspec")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for clause, outcome in outcomes:
        module, _, name = outcome.nodeid.partition("::")
        case = ET.SubElement(
            suite,
            "testcase",
            classname=module.removesuffix(".py").replace("/", "."),
            name=name,
            time=f"{outcome.duration_s:.3f}",
        )
        properties = ET.SubElement(case, "properties")
        for key, value in (("clause", clause), ("backend", backend), ("device", device)):
            ET.SubElement(properties, "property", name=key, value=value)
        counts["tests"] += 1
        first_line = outcome.message.partition("\n")[0]
        if outcome.outcome == "failed":
            ET.SubElement(case, "failure", message=first_line).text = outcome.message
            counts["failures"] += 1
        elif outcome.outcome == "error":
            ET.SubElement(case, "error", message=first_line).text = outcome.message
            counts["errors"] += 1
        elif outcome.outcome != "passed":
            ET.SubElement(case, "skipped", type=outcome.outcome, message=f"{outcome.outcome}: {first_line}")
            counts["skipped"] += 1
    for key, count in counts.items():
        suite.set(key, str(count))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _kill_group(child: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def _death_reason(returncode: int, hung: bool, timeout: float) -> str:
    if hung:
        return f"hung: no verdict within {timeout:g} s, so its process was killed (raise --timeout if it is just slow)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"crashed: the backend's process was killed by {name} while running this test"
    return f"crashed: the backend's process exited with status {returncode} in the middle of this test (os._exit?)"


def _tail(path: Path) -> str:
    """The useful end of a child's output: a crash's own report (faulthandler) if any, else the last lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    marker = "Fatal Python error"
    crash = next((i for i, line in enumerate(lines) if marker in line), None)
    if crash is not None:
        report = [lines[crash][lines[crash].index(marker) :], *lines[crash + 1 : crash + 12]]
        return "\n".join(report)
    return "\n".join(lines[-_LOG_TAIL_LINES:])
