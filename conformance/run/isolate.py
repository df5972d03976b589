"""The parent's side of an isolated run: child processes, timeouts, crashes, restarts.

A backend may raise, hang, or kill its own process (``os._exit``, a
segfault) inside one clause's test. The run must still leave a complete
report. So ``blockspec run`` starts the suite in a child process that keeps a
journal (``conformance.run.journal``); the parent applies the journal's
events to its :class:`~conformance.run.verdicts.Ledger` as they arrive:

* a test that has run longer than ``timeout`` seconds is a hang: the parent
  kills the child's whole process group;
* a child that dies before the end of the session (killed, a signal, an
  ``os._exit``) leaves a test started and never finished;
* a backend that raises ``KeyboardInterrupt`` inside a test stops its child's
  pytest session early.

That test gets the outcome ``error`` with the reason (and the tail of the
child's output, where Python's faulthandler prints a crash's traceback), and
the parent starts a new child that deselects every test already decided.
Under ``-n`` a test that a parallel child leaves unfinished (its worker died,
it hung, the session stopped beside it) gets no verdict there: it is rerun
in a child of its own, without xdist, so its verdict and reason are those a
run without ``-n`` gives, and the rest goes on in parallel.

The journal is data: every line is checked (:func:`~conformance.run.journal.parse_event`);
a malformed one makes the test that was running when it was written an
``error`` (a harness error), never a crash of the run.
The result is built by :func:`~conformance.run.verdicts.build_result`, as in
an in-process run.

No process outlives the run: the child dies with the parent
(``PR_SET_PDEATHSIG`` on Linux), the parent is a subreaper so that whatever
the backend forked (``os.setsid()`` too) becomes its child once the suite's
child is gone, and every such leftover is killed before the run returns.

``blockspec backends`` loads each backend the same way (:func:`probe_backends`): a process of its own,
in its own session, killed with its group when it hangs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from conformance._discovery import PROBE_MARK
from conformance._errors import UsageError
from conformance._files import run_directory, write_text_atomic
from conformance._interrupt import Terminated, signals_as_exit, user_interrupted
from conformance._text import neutral
from conformance._version import tool_version
from conformance.run.journal import parse_event
from conformance.run.junit import junit_document
from conformance.run.progress import Reporter, make_reporter
from conformance.run.request import RunRequest
from conformance.run.result import RunResult, TestOutcome, write_json
from conformance.run.status import Outcome
from conformance.run.verdicts import Ledger, build_result

_POLL_S = 0.05
#: A line of pytest -q's progress: one character per test, and the percentage.
_PROGRESS = re.compile(r"[.FEsxXf]*\s*(\[\s*\d+%\])?\s*")
_LOG_TAIL_LINES = 25
_PYTEST_USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR: its command line (with PYTEST_ADDOPTS) was refused
#: Seconds a child may take to exit after its session ended (pytest's summary, atexit handlers).
_END_GRACE_S = 5.0
#: OpenMP's thread count, read by torch's and paddle's CPU kernels and by OpenBLAS.
THREADS_ENV = "OMP_NUM_THREADS"
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def threads_per_process(processes: int) -> int:
    """The OpenMP threads each of ``processes`` processes gets so that together they fill this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, processes))


def _parallel_environment(workers: int) -> dict[str, str] | None:
    """The environment of a child running ``workers`` test processes (None: this process's own).

    Under ``-n N``, unless the user set :data:`THREADS_ENV`, each test process gets its share of the
    cores, as torchrun does: otherwise each runs torch on every core, and OpenMP threads that wait
    for each other spin. On the 2-core machine with the other core busy, a ResNet-18 module check
    took 200 s on two threads and 33 s on one.
    """
    if workers == 1 or THREADS_ENV in os.environ:
        return None
    return {**os.environ, THREADS_ENV: str(threads_per_process(workers))}


@dataclass
class _Watch:
    """The parent's view of a run: the ledger, plus what only the parent knows (times, progress)."""

    ledger: Ledger = field(default_factory=Ledger)
    selected: set[str] = field(default_factory=set)  # tests some child meant to run
    started_at: dict[str, float] = field(default_factory=dict)  # running test -> when it started
    last_event: float = 0.0
    reporter: Reporter | None = None
    current: dict[str, str] = field(default_factory=dict)  # journal file -> the test it started last
    garbled: dict[str, str] = field(default_factory=dict)  # test -> the malformed journal line seen while it ran
    loose: list[str] = field(default_factory=list)  # malformed lines outside any test
    ended_at: float = 0.0  # when the child's session said it ended (its process may still wait on threads)
    loaded: bool = False  # the current child sent its first event (it loaded the backend and collected)

    def read(self, lines: list[str], source: str = "") -> None:
        """Apply the journal lines of one child process (``source``); a malformed line is that test's error."""
        for line in lines:
            if not line.strip():
                continue
            event, problem = parse_event(line)
            if problem:
                named = event.get("nodeid") if event is not None else None
                known = isinstance(named, str) and (named in self.ledger.running_tests or named in self.ledger.outcomes)
                self.garble(named if known else self.current.get(source), f"{problem}: {line.strip()[:160]!r}")
                continue
            assert event is not None
            if event["event"] == "start":
                self.current[source] = event["nodeid"]
            self.apply(event)

    def garble(self, nodeid: Any, problem: str) -> None:
        """A journal line that is not a well-formed event, written while ``nodeid`` ran (None: outside a test)."""
        self.last_event = time.monotonic()
        text = f"harness error: the run journal has a malformed line ({problem}); this test's verdict cannot be trusted"
        if not isinstance(nodeid, str):
            self.loose.append(text)
            print(neutral(f"blockspec: {text.replace('this test', 'a')}"), file=sys.stderr)
            return
        self.garbled.setdefault(nodeid, text)
        decided = self.ledger.outcomes.get(nodeid)
        if decided is not None:  # written after the test finished: its recorded verdict is replaced
            clause, outcome = decided
            error = TestOutcome(nodeid, Outcome.ERROR, outcome.duration_s, self.garbled[nodeid])
            self.ledger.record(clause, error)

    def apply(self, event: Mapping[str, Any]) -> None:
        self.last_event, self.loaded = time.monotonic(), True
        kind = event["event"]
        if kind == "finish" and event["nodeid"] in self.garbled:
            previous = event["outcome"] or {}
            error = TestOutcome(
                event["nodeid"], Outcome.ERROR, float(previous.get("duration_s", 0.0)), self.garbled[event["nodeid"]]
            )
            event = {**event, "outcome": error.to_json()}
        if kind == "end" and not event.get("worker"):
            self.ended_at = time.monotonic()
        if kind == "collected":
            self.selected.update(event["selected"])
            if self.reporter:  # the first child collects every test; later ones only those left
                self.reporter.collected(len(event["selected"]) + len(self.ledger.outcomes))
        elif kind == "start":
            self.started_at[event["nodeid"]] = time.monotonic()
            if self.reporter:
                self.reporter.started(event["nodeid"], event["clause"])
        elif kind == "finish" and event["outcome"] is not None and self.reporter:
            self.reporter.finished(event["clause"], TestOutcome(**event["outcome"]))
        self.ledger.apply(event)

    def remaining(self) -> list[str]:
        return sorted(self.selected - set(self.ledger.outcomes))

    def overdue(self, timeout: float) -> list[str]:
        """Running tests that have run longer than ``timeout`` seconds."""
        now = time.monotonic()
        return [n for n in self.ledger.running_tests if now - self.started_at.get(n, now) > timeout]

    def fail_running(self, nodeids: list[str], reason: str) -> None:
        """Give each of ``nodeids`` (started, never finished) the outcome ``error`` with ``reason``."""
        now = time.monotonic()
        for nodeid in nodeids:
            clause = self.ledger.running_tests.get(nodeid, "")
            outcome = TestOutcome(nodeid, Outcome.ERROR, now - self.started_at.get(nodeid, now), reason)
            self.apply({"event": "finish", "nodeid": nodeid, "clause": clause, "outcome": outcome.to_json()})


def run_isolated(request: RunRequest, *, quiet: bool = False) -> RunResult:
    """Run ``request`` in child processes, surviving exceptions, hangs and crashes of any one test.

    Progress goes to stdout (a live line on a terminal, one plain line per
    test otherwise) unless ``quiet`` or ``request.verbose`` (pytest's own
    output). The backend is loaded in the child only: one that exits, hangs
    or interrupts at import is refused (exit 2) without touching this process.
    """
    catalogue = request.validate()
    args = RunRequest(**{**request.__dict__, "json_path": None}).pytest_arguments()
    started, clock = datetime.now(UTC), time.perf_counter()
    watch = _Watch(reporter=None if quiet or request.verbose else make_reporter())
    ledger = watch.ledger
    incomplete = ""
    terminated: Terminated | None = None
    _become_subreaper()
    serial_args = RunRequest(**{**request.__dict__, "json_path": None, "workers": 1}).pytest_arguments()
    with signals_as_exit(), run_directory("run") as tmp:
        try:
            suspects: list[str] = []  # tests a parallel child did not finish: rerun alone, as -n 1 runs them
            serial = request.workers == 1
            for segment in range(10_000):
                journal = tmp / f"journal-{segment}.jsonl"
                alone = bool(suspects) or serial
                skip = set(ledger.outcomes) | (set(watch.remaining()) - set(suspects) if suspects else set())
                deselect = [arg for nodeid in sorted(skip) for arg in ("--deselect", nodeid)]
                command = [sys.executable, "-m", "pytest", *(serial_args if alone else args)]
                command += ["--basetemp", str(tmp / f"pytest-{segment}"), "--blockspec-journal", str(journal)]
                decided = len(ledger.outcomes)
                returncode, hung, overdue, tail = _run_child(
                    command + deselect,
                    journal,
                    watch,
                    (request.timeout, request.load_limit),
                    request.verbose,
                    tmp,
                    env=None if alone else _parallel_environment(request.workers),
                )
                for nodeid in skip:  # deselected here, to be run in another child: not the user's deselection
                    ledger.deselected.pop(nodeid, None)
                if ledger.refused:
                    raise UsageError(ledger.refused)
                if not ledger.began and not hung and returncode == _PYTEST_USAGE_ERROR:
                    raise UsageError(_pytest_refused(tail))
                if not ledger.began:
                    why = _death_reason(returncode, hung, request.load_limit, during="loading the backend")
                    raise UsageError(f"backend {request.target!r} could not be loaded: {why}" + _tail_text(tail))
                if not alone:
                    # A parallel child that did not end cleanly (a worker died, a test hung or raised
                    # KeyboardInterrupt, the controller stopped) decides nothing about the other tests it
                    # left unfinished: each is rerun in a child of its own, which gives the verdict and
                    # reason a run without -n gives, so that -n N and -n 1 write the same result file.
                    # A test that ran past --timeout is hung whichever process ran it: it is decided here,
                    # with the reason -n 1 gives, rather than waited out a second time.
                    if hung and overdue:
                        _decide(watch, overdue, _death_reason(returncode, hung, request.timeout))
                    clean = ledger.ended and not hung and not ledger.stopped and not ledger.running_tests
                    suspects = sorted(ledger.running_tests)
                    ledger.running_tests.clear()
                    ledger.ended, ledger.stopped = False, ""
                    if clean and not watch.remaining():
                        ledger.ended = True
                        break
                    if not suspects and len(ledger.outcomes) == decided:
                        serial = True  # no progress and nothing to blame: go on as -n 1 would
                    continue
                suspects = []
                if ledger.ended and not hung:
                    if ledger.running_tests:  # the child ended with a test unfinished (a plugin's os._exit?)
                        reason = "crashed: the test process running this test died (a segfault, os._exit?)"
                        watch.fail_running(list(ledger.running_tests), f"{reason}{_tail_text(tail)}")
                    if ledger.stopped and watch.remaining() and len(ledger.outcomes) > decided:
                        ledger.ended, ledger.stopped = False, ""  # a backend's KeyboardInterrupt: go on without it
                        continue
                    if watch.remaining() and not serial and not ledger.stopped:
                        ledger.ended = False  # the suspects are decided: the rest goes on in parallel
                        continue
                    break
                victims = overdue if hung else list(ledger.running_tests)
                reason = _death_reason(returncode, hung, request.timeout)
                if not victims:
                    if watch.loaded:
                        between = _death_reason(returncode, hung, request.timeout, during="between tests")
                    else:  # a child started after a crash or hang that never loaded the backend again
                        between = _death_reason(returncode, hung, request.load_limit, during="loading the backend")
                    ledger.stopped = f"the suite's process stopped early: {between}{_tail_text(tail)}"
                    break
                # A killed hang leaves no report of its own (SIGKILL), and its test's output is captured:
                # the log's tail would only show what ran before it, so a hang's reason is the hang alone.
                _decide(watch, victims, reason if hung else f"{reason}{_tail_text(tail)}")
                ledger.running_tests.clear()  # tests cut off beside a victim run again in the next child
                ledger.ended = False
        except KeyboardInterrupt:
            if not user_interrupted():
                raise
            incomplete = "interrupted by the user (Ctrl-C)"
            print("\nblockspec: interrupted; the result lists what ran, the rest as not run", file=sys.stderr)
        except Terminated as exc:  # a CI job's timeout: the result is written, marked incomplete, as for Ctrl-C
            terminated = exc
            incomplete = f"terminated by {exc.name}"
            print(f"\nblockspec: {incomplete}; the result lists what ran, the rest as not run", file=sys.stderr)
        finally:
            if watch.reporter:
                watch.reporter.close()
        name = ledger.subject.get("name", request.target)
        if request.junit_path is not None:
            device = ledger.device or request.device or "cpu"
            write_text_atomic(request.junit_path, junit_document(list(ledger.outcomes.values()), name, device))
    result = build_result(
        ledger,
        catalogue,
        target=request.target,
        device=request.device,
        profile=request.profile,
        selected=frozenset(request.clauses) or None,
        rerun=request.rerun_template(),
        started=started.isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - clock,
        tool={"name": "blockspec", "version": tool_version()},
        incomplete=incomplete,
    )
    if terminated is not None:
        result.signal = terminated.name  # the file's exit_code is then what the process exits with (143)
    if watch.loose:
        result.environment["blockspec_journal_errors"] = "\n".join(watch.loose)
    if request.json_path is not None:
        write_json(result, request.json_path)
    if terminated is not None:
        raise terminated
    return result


def _decide(watch: _Watch, victims: list[str], reason: str) -> None:
    """Give each of ``victims`` (a test the child was running when it hung or died) ``error`` with ``reason``."""
    watch.fail_running(victims, reason)
    for victim in victims:
        first = reason.split("\n", 1)[0]
        print(neutral(f"blockspec: {victim}: {first}; going on with the other tests"), file=sys.stderr)


def _become_subreaper() -> None:
    """Orphans of the child's tree become this process's children (Linux), so they can be ended."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _children() -> set[int]:
    """Process ids whose parent is this process (from /proc; empty where there is none)."""
    me, found = os.getpid(), set()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = Path(entry.path, "stat").read_text()
                    if int(stat.rpartition(")")[2].split()[1]) == me:
                        found.add(int(entry.name))
    return found


def _end_leftovers(before: set[int]) -> None:
    """Kill and reap every child of this process that the run made (and the orphans it left)."""
    for _ in range(50):
        leftovers = _children() - before
        if not leftovers:
            return
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in leftovers:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        time.sleep(0.01)


def _run_child(
    command: list[str],
    journal: Path,
    watch: _Watch,
    limits: tuple[float, float],
    verbose: bool,
    tmp: Path,
    env: dict[str, str] | None = None,
) -> tuple[int, bool, list[str], str]:
    """Run one child until it ends or hangs; returns (exit status, hung, the hung tests, tail of its output).

    ``limits`` is (per test, for loading): a test running longer than the first is hung, and so is a
    child that sends no event at all for the second (it never loaded) or, once loaded, for the first.
    The child writes ``journal``; under ``-n`` each xdist worker writes ``journal.gwN`` beside it.
    """
    timeout, load_limit = limits
    log_path = tmp / f"{journal.stem}.log"
    journal.touch()
    before = _children()
    readers: dict[Path, tuple[IO[str], list[str]]] = {}

    def read_all(final: bool = False) -> None:
        for path in sorted(journal.parent.glob(f"{journal.name}*")):
            if path not in readers:
                readers[path] = (path.open(encoding="utf-8", errors="replace"), [""])
            handle, pending = readers[path]
            chunk = handle.read()
            if chunk:
                pending[0] += chunk
                *lines, pending[0] = pending[0].split("\n")
                watch.read(lines, path.name)
            if final and pending[0].endswith("}"):
                watch.read([pending[0]], path.name)
                pending[0] = ""

    with log_path.open("w", encoding="utf-8") as log:
        output: IO[str] | None = None if verbose else log
        child = subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        watch.last_event, watch.ended_at, watch.loaded = time.monotonic(), 0.0, False
        overdue: list[str] = []
        hung = False
        try:
            while True:
                returncode = child.poll()
                read_all()
                if returncode is not None:
                    read_all(final=True)
                    break
                if watch.ended_at and time.monotonic() - watch.ended_at > _END_GRACE_S:
                    # The session ended and its result is complete; what keeps the process alive is a
                    # thread the backend or module started and never ended (Python waits on non-daemon
                    # threads at exit): there is nothing left to wait for.
                    _kill_group(child)
                    child.wait()
                    returncode = watch.ledger.exitstatus or 0
                    break
                overdue = watch.overdue(timeout)
                quiet_for = time.monotonic() - watch.last_event
                idle = not watch.ledger.running_tests and quiet_for > (timeout if watch.loaded else load_limit)
                if overdue or idle:  # a test, or the process outside any test, gave no sign for too long
                    hung = True
                    _kill_group(child)
                    child.wait()
                    returncode = child.returncode
                    break
                time.sleep(_POLL_S)
        except BaseException:
            # Ctrl-C, or SIGTERM/SIGHUP (see conformance._interrupt.signals_as_exit): the child runs in its own session,
            # so nothing else would stop it; it must not outlive the run.
            _kill_group(child)
            child.wait()
            raise
        finally:
            _kill_group(child)  # what the backend forked into the child's group
            _end_leftovers(before)
            for handle, _ in readers.values():
                handle.close()
    tail = "" if verbose else _tail(log_path)
    return returncode, hung, overdue, tail


def _kill_group(child: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def _death_reason(returncode: int, hung: bool, timeout: float, during: str = "") -> str:
    if hung:
        if during:
            advice = " (raise --load-timeout if it is just slow)" if during == "loading the backend" else ""
            return f"hung: no answer within {timeout:g} s while {during}, so its process was killed{advice}"
        return f"hung: no verdict within {timeout:g} s, so its process was killed (raise --timeout if it is just slow)"
    where = f"while {during}" if during else "in the middle of this test"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"crashed: the backend's process was killed by {name} {where}"
    return f"crashed: the backend's process exited with status {returncode} {where} (os._exit or sys.exit?)"


def _pytest_refused(tail: str) -> str:
    """A usage error for a child that pytest refused to start (an option in PYTEST_ADDOPTS, say)."""
    errors = [line.strip() for line in tail.splitlines() if "error" in line.lower()]
    said = errors[-1] if errors else (tail.strip().splitlines() or ["(no message)"])[-1]
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    hint = f"; PYTEST_ADDOPTS is {addopts!r}: unset it or drop what pytest refuses" if addopts.strip() else ""
    return f"pytest refused the suite's command line (exit status 4, not the backend's doing): {said}{hint}"


def _tail_text(tail: str) -> str:
    return f"\n{tail}" if tail else ""


def _tail(path: Path) -> str:
    """The useful end of a child's output: a crash's own report (faulthandler) if any, else the last lines."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line for line in lines if not _PROGRESS.fullmatch(line)]  # pytest -q's dots say nothing of a crash
    marker = "Fatal Python error"
    crash = next((i for i, line in enumerate(lines) if marker in line), None)
    if crash is not None:
        report = [lines[crash][lines[crash].index(marker) :], *lines[crash + 1 : crash + 12]]
        return "\n".join(report)
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def probe_backends(names: Sequence[str], timeout: float) -> list[dict[str, Any]]:
    """:func:`conformance._discovery.probe` of each of ``names``, each in a process of its own, one per core.

    The processes run in their own sessions: on an exception here (Ctrl-C, a SIGTERM turned into one), and
    once all have answered, every one of them and whatever they started is ended.
    """
    from concurrent.futures import ThreadPoolExecutor

    running: list[subprocess.Popen[bytes]] = []
    _become_subreaper()
    before = _children()
    pool = ThreadPoolExecutor(max(1, min(len(names), os.cpu_count() or 1)))
    try:
        return list(pool.map(lambda name: _probe_in_child(name, timeout, running), names))
    finally:
        for child in running:  # no probe is waited for
            _kill_group(child)
        pool.shutdown(wait=True, cancel_futures=True)
        _end_leftovers(before)  # and what a backend started outside its process's group


def _probe_in_child(name: str, timeout: float, running: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    """:func:`probe` in a process of its own, in its own session: a backend that hangs, exits or crashes
    while it loads is an ``error`` naming that, never the lister's. Each process is added to ``running``
    while it runs, for the caller to end on Ctrl-C; one that outlives ``timeout`` is killed with its group.
    Its output goes to a file, not a pipe: a process the backend started and left holding it never keeps
    the lister waiting.
    """
    command = [sys.executable, "-c", "from conformance._discovery import _probe_main; _probe_main()", name]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        running.append(child)
        hung = False
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            hung = True
        finally:
            _kill_group(child)  # a hang, and what the backend started in the child's group
            child.wait()
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read(_PROBE_OUTPUT_MAX).decode("utf-8", errors="replace"))
    answers = [line[len(PROBE_MARK) :] for line in texts[0].splitlines() if line.startswith(PROBE_MARK)]
    if answers and not hung:
        with contextlib.suppress(ValueError):
            answer: dict[str, Any] = json.loads(answers[-1])
            return answer
    why = _death_reason(child.returncode, hung, timeout, during="loading the backend")
    said = [line.strip() for line in texts[1].splitlines() if line.strip()][-3:]
    return {"error": why + (f": {' / '.join(said)}" if said and not hung else "")}


#: The most of a probe's output read back (a backend may print without end while it loads).
_PROBE_OUTPUT_MAX = 1 << 20
