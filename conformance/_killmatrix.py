"""The kill matrix: which mutant backend makes which clause fail.

A mutant is a backend class with a ``target`` attribute naming the clause it
breaks. Running the suite on it must make that clause fail (``fail`` or
``error``) while no other MUST clause fails or errs; the target's dependents
may only be ``blocked``. The suite runs the clauses whose tests read something
the mutant redefines; every other clause ends as on the base backend, whose
traced run says which clause reads what (:mod:`conformance._access`;
``--whole-suite`` runs everything). ``blockspec kill-matrix`` runs every
mutant of the given modules and prints, per clause, the mutants that catch
it; the checker's own tests (tests/test_killmatrix.py) hold the same judgement.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import inspect
import json
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import _access
from conformance._errors import UsageError
from conformance._files import write_text_atomic
from conformance.run.request import RunRequest
from spec import Catalogue, load_catalogue


@dataclass(frozen=True)
class Mutant:
    """A mutant backend: ``module:name`` breaks ``target``."""

    module: str
    name: str
    target: str
    #: The dimension of ``REACH`` or ``MORE_REACH`` (``conformance.kit.reach_strategies.ALL_REACH``) the
    #: mutant hides in (its ``region``), if any: such a mutant runs at the ci profile.
    region: str = ""

    @property
    def selector(self) -> str:
        return f"{self.module}:{self.name}"


@dataclass
class MutantRun:
    """What the suite said about one mutant, and whether that is the kill the matrix needs."""

    mutant: Mutant
    statuses: dict[str, str] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    problem: str = ""  # empty when the mutant is killed cleanly
    #: Clauses the backend lists as known failures that the spec will not waive (they fail unmutated too).
    known_unwaived: frozenset[str] = frozenset()

    @property
    def killed(self) -> bool:
        return not self.problem


def find_mutants(modules: Iterable[str]) -> list[Mutant]:
    """Every class with a ``target`` defined in ``modules``; a module whose framework is missing is skipped.

    ``module:Class`` selects one mutant of a module.
    """
    found = []
    for selector in modules:
        module_name, _, only = selector.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            target = getattr(cls, "target", None)
            if cls.__module__ == module_name and isinstance(target, str) and only in ("", name):
                found.append(Mutant(module_name, name, target, str(getattr(cls, "region", ""))))
    return found


def not_runnable_here(mutant: Mutant) -> str:
    """Why ``mutant`` cannot be judged on this machine, or ``""`` when it can.

    A mutant may break a behaviour that shows only where its backend has an
    accelerator (``needs_accelerator = True``: elsewhere the target is
    ``skipped``) or only where it has none (``needs_accelerator = False``:
    e.g. the CPU fallback of try_all_gpus). On the wrong machine its verdict
    is neither a kill nor a survival, so it is set aside.
    """
    cls = getattr(importlib.import_module(mutant.module), mutant.name)
    needs = getattr(cls, "needs_accelerator", None)
    if needs is None:
        return ""
    backend = cls()
    present = bool(backend.accelerators())
    if present == needs:
        return ""
    have = "has none" if needs else "has " + ", ".join(backend.accelerators())
    return (
        f"{mutant.target} is broken only {'with' if needs else 'without'} an accelerator and {backend.name} {have} here"
    )


def default_modules(root: Path) -> list[str]:
    """``tests/mutants/*_mutants.py`` under ``root`` (a checkout), as module names."""
    return [f"tests.mutants.{path.stem}" for path in sorted((root / "tests" / "mutants").glob("*_mutants.py"))]


@dataclass(frozen=True)
class Baseline:
    """The base backend's whole-suite run, traced: its statuses and what each clause's tests read of it."""

    statuses: dict[str, str]
    levels: dict[str, str]
    known_unwaived: frozenset[str]
    trace: dict[str, Any]


def run_mutant(
    mutant: Mutant,
    *,
    cwd: Path,
    profile: str | None = None,
    timeout: float = 600,
    shapes: str | None = None,
    whole_suite: bool = False,
) -> MutantRun:
    """Run the suite on ``mutant`` in fresh processes and judge the outcome.

    ``profile`` None: every clause runs at ``fast``, except for a mutant hiding in a rare region (its
    ``region``): its target, and those of the target's dependents that run, run at ``ci`` in a process
    of their own. Ten derandomized examples reach a rare region only by the chance of the test's source
    hash (an edit to a test can reorder its draws); thirty reach it, as the reach meta-tests show. The
    other clauses are the "no other MUST clause fails" half, which needs no rare region. A given
    ``profile`` runs all at it.

    ``shapes`` is the run's ``--shapes`` (None: the backend's default): ``palette`` shows that a
    mutant hiding in a rare region is still caught when sizes come from a per-run palette.

    Only the clauses whose tests read an attribute the mutant redefines run (``conformance._access``);
    the others keep the statuses of the base backend's traced run, made once per base, profile and
    shapes. ``whole_suite`` runs every clause on the mutant instead.
    """
    target_profile, others_profile = profile or _profile(mutant), profile or "fast"
    base = None if whole_suite else baseline(mutant, cwd=cwd, profile=others_profile, shapes=shapes, timeout=timeout)
    selected = None if base is None else _access.clauses_to_run(base.trace, _access.redefined(_mutant_class(mutant)))
    if base is None or selected is None:  # the whole suite, in one process
        return _judged(mutant, [(target_profile, None)], None, cwd=cwd, shapes=shapes, timeout=timeout)
    # The target, and the backend's own unwaivable failures (they set the exit status), always run.
    ran = selected | {mutant.target} | base.known_unwaived
    closest = {mutant.target} | (_dependents(mutant.target) & ran) if target_profile != others_profile else set()
    parts = [(target_profile, closest), (others_profile, ran - closest)]
    return _judged(
        mutant, [(p, clauses) for p, clauses in parts if clauses], base, cwd=cwd, shapes=shapes, timeout=timeout
    )


def _judged(
    mutant: Mutant,
    parts: Sequence[tuple[str, set[str] | None]],
    base: Baseline | None,
    *,
    cwd: Path,
    shapes: str | None,
    timeout: float,
) -> MutantRun:
    """The judged run of ``mutant``: one process per (profile, clauses) part (None: every clause).

    A clause no part ran ends as on ``base``; the exit status is the worst of the parts'.
    """
    run = MutantRun(mutant, statuses=dict(base.statuses) if base else {}, levels=dict(base.levels) if base else {})
    codes: list[int | None] = []
    for profile, clauses in parts:
        with tempfile.TemporaryDirectory(prefix="blockspec-mutant-") as tmp:
            returncode, data, output = _run_suite_process(
                mutant.selector, profile, shapes, sorted(clauses or ()), cwd=cwd, tmp=Path(tmp), timeout=timeout
            )
        if data is None:
            return MutantRun(mutant, exit_code=returncode, problem=f"no result file; output:\n{output[-2000:]}")
        part = _mutant_run(mutant, data, returncode)
        run.statuses.update(part.statuses if clauses is None else {c: part.statuses[c] for c in clauses})
        run.levels.update(part.levels)
        run.known_unwaived |= part.known_unwaived
        codes.append(returncode)
    run.exit_code = next((c for c in codes if c not in (0, 1)), max(codes, key=lambda c: c or 0))
    run.problem = judge(run)
    return run


def _dependents(clause: str) -> set[str]:
    """The clauses that depend on ``clause``, directly or through others."""
    catalogue, found, pending = load_catalogue(), set[str](), [clause]
    while pending:
        for dependent in catalogue.dependents(pending.pop()):
            if dependent.id not in found:
                found.add(dependent.id)
                pending.append(dependent.id)
    return found


def _profile(mutant: Mutant) -> str:
    return "ci" if mutant.region else "fast"


def target_status(
    mutant: Mutant, *, cwd: Path, profile: str = "ci", shapes: str | None = None, timeout: float = 600
) -> tuple[str, str]:
    """The status of ``mutant``'s target when only that clause runs on it, and the run's output.

    Whether the target's tests reach what the mutant breaks, without the rest of the judgement: that no
    other clause fails is :func:`run_mutant`'s, under the backend's own shapes.
    """
    with tempfile.TemporaryDirectory(prefix="blockspec-mutant-") as tmp:
        _, data, output = _run_suite_process(
            mutant.selector, profile, shapes, [mutant.target], cwd=cwd, tmp=Path(tmp), timeout=timeout
        )
    if data is None:
        return "no result", output[-2000:]
    statuses = {c["id"]: c["status"] for c in data["clauses"]}
    return statuses.get(mutant.target, "absent"), output[-2000:]


def _mutant_class(mutant: Mutant) -> type:
    return getattr(importlib.import_module(mutant.module), mutant.name)  # type: ignore[no-any-return]


def _mutant_run(mutant: Mutant, data: dict[str, Any], returncode: int | None) -> MutantRun:
    return MutantRun(
        mutant,
        statuses={c["id"]: c["status"] for c in data["clauses"]},
        levels={c["id"]: c["level"] for c in data["clauses"]},
        exit_code=returncode,
        known_unwaived=_known_unwaived(data),
    )


def _known_unwaived(data: dict[str, Any]) -> frozenset[str]:
    """Clauses a result file lists as known failures that the spec will not waive."""
    return frozenset(
        c["id"] for c in data["clauses"] if c.get("known_failure") and c["known_failure"].get("waived") is False
    )


def _run_suite_process(
    selector: str,
    profile: str,
    shapes: str | None,
    clauses: Sequence[str] = (),
    *,
    cwd: Path,
    tmp: Path,
    timeout: float,
    trace: bool = False,
) -> tuple[int | None, dict[str, Any] | None, str]:
    """``blockspec run --backend SELECTOR`` in a fresh process: exit status, result file, output.

    No shrinking: a kill needs a verdict, not a minimal example. One process per run is the isolation.
    ``trace`` records what each clause reads of the backend (:mod:`conformance._access`) beside the
    result, under the key ``trace``; it needs the fork server (no result without one).
    """
    result_file = tmp / "result.json"
    args = ["run", "--backend", selector, "--profile", profile, *(["--shapes", shapes] if shapes else [])]
    args += [f"--clause={cid}" for cid in clauses]
    args += ["--no-shrink", "--in-process", "--json", str(result_file)]
    trace_file = tmp / "trace.json" if trace else None
    traced = None
    if trace_file is not None:
        request = RunRequest(selector, profile=profile, shapes=shapes, shrink=False, json_path=result_file)
        traced = (request, trace_file)
    returncode, output = _run_process(args, cwd=cwd, log=tmp / "output.txt", timeout=timeout, trace=traced)
    if not result_file.exists():
        return returncode, None, output
    data: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    if trace_file is not None:
        data["trace"] = json.loads(trace_file.read_text(encoding="utf-8"))
    return returncode, data, output


#: A directory the processes of one test run share their base runs in (the checker's tests set it for
#: pytest-xdist's workers and remove it at the end); unset, each process makes its own.
BASELINE_DIR_ENV = "BLOCKSPEC_BASELINE_DIR"
_BaselineKey = tuple[str, str, str, str | None]  # the base backend's selector, cwd, profile, shapes
_BASELINES: dict[_BaselineKey, Baseline | None] = {}
_KEY_LOCKS: dict[_BaselineKey, threading.Lock] = {}  # one per key: threads making different bases never wait
_KEY_LOCKS_LOCK = threading.Lock()


def baseline(mutant: Mutant, *, cwd: Path, profile: str, shapes: str | None, timeout: float) -> Baseline | None:
    """The traced run of ``mutant``'s base backend (made once per base, profile and shapes), or None.

    None when the base run cannot serve: it gave no result, or it is not the clean verdict a
    mutant's judgement starts from (a base clause that errs). Then the mutant runs the whole suite.
    """
    key = _baseline_key(mutant, cwd, profile, shapes)
    with _key_lock(key):
        if key not in _BASELINES:
            _BASELINES[key] = _shared_baseline(key, timeout, wait=True)
        return _BASELINES[key]


def prepare_baselines(
    mutants: Iterable[Mutant],
    *,
    cwd: Path,
    profile: str | None = None,
    shapes: str | None = None,
    timeout: float = 600,
) -> None:
    """Make the baselines ``mutants`` need that no other process or thread is making now.

    ``profile`` and ``shapes`` are :func:`run_mutant`'s (``profile`` None: its base runs are at ``fast``).

    A baseline another process has started is left to it, not waited for: processes that share
    :data:`BASELINE_DIR_ENV` and each call this before their first mutant (pytest-xdist's workers) make
    different baselines side by side, where each would otherwise start with the first mutant's and wait
    for the other's, a core idle. A mutant later waits only for a baseline still being made.
    """
    keys = dict.fromkeys(_baseline_key(m, cwd, profile or "fast", shapes) for m in mutants)
    for key in keys:
        lock = _key_lock(key)
        if not lock.acquire(blocking=False):
            continue
        try:
            if key not in _BASELINES:
                _BASELINES[key] = _shared_baseline(key, timeout, wait=False)
        except _Busy:
            pass
        finally:
            lock.release()


def _baseline_key(mutant: Mutant, cwd: Path, profile: str, shapes: str | None) -> _BaselineKey:
    base = _access.base_backend(_mutant_class(mutant))
    return (f"{base.__module__}:{base.__qualname__}", str(cwd), profile, shapes)


def _key_lock(key: _BaselineKey) -> threading.Lock:
    with _KEY_LOCKS_LOCK:
        return _KEY_LOCKS.setdefault(key, threading.Lock())


class _Busy(Exception):
    """Another process is making the baseline asked for, and the caller would rather not wait."""


def _shared_baseline(key: _BaselineKey, timeout: float, *, wait: bool) -> Baseline | None:
    """The baseline of ``key``, made by one process and read by the others that share :data:`BASELINE_DIR_ENV`.

    Without ``wait``, :class:`_Busy` when another process is making it now.
    """
    selector, cwd, profile, shapes = key
    shared = os.environ.get(BASELINE_DIR_ENV, "")
    cache = None
    if shared and Path(shared).is_dir():
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        cache = Path(shared) / f"baseline-{digest}.json"
    with contextlib.ExitStack() as stack:
        if cache is not None:
            lock = stack.enter_context(open(f"{cache}.lock", "w"))
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _Busy(selector) from None
            if cache.exists():
                return _baseline_from(json.loads(cache.read_text(encoding="utf-8")))
        with tempfile.TemporaryDirectory(prefix="blockspec-baseline-") as tmp:
            _, data, _ = _run_suite_process(
                selector, profile, shapes, cwd=Path(cwd), tmp=Path(tmp), timeout=timeout, trace=True
            )
        if cache is not None and data is not None:
            write_text_atomic(cache, json.dumps(data))
        return None if data is None else _baseline_from(data)
    return None  # pragma: no cover - the block above always returns


def _baseline_from(data: dict[str, Any]) -> Baseline | None:
    statuses = {c["id"]: c["status"] for c in data["clauses"]}
    if "error" in statuses.values():
        return None
    return Baseline(
        statuses=statuses,
        levels={c["id"]: c["level"] for c in data["clauses"]},
        known_unwaived=_known_unwaived(data),
        trace=data["trace"],
    )


#: What every mutant's run imports: the fork server loads it once, so each mutant's process starts
#: with the frameworks, pytest, hypothesis and the suite already imported (about 4 s each with torch).
#: A module that cannot be imported here (no torch) is left out; jax and tinygrad are never loaded
#: in the server, since importing them may start threads that a fork would break. The suite's test
#: modules are not loaded either: ``@given`` takes its settings when the module is imported, which
#: must come after the run has loaded its hypothesis profile.
PRELOAD = (
    "numpy",
    "hypothesis",
    "pytest",
    "torch",
    "conformance._cli",  # the command the child runs (``python -m conformance``)
    "conformance.run.inprocess",
    "conformance.plugin",
    "conformance.backends.reference",
    "conformance.backends.torch",
    "conformance.suite.conftest",
    "conformance.kit.strategies",
    "conformance._preloaded",  # last: freezes all of the above out of the garbage collector's walks
)


def _forkserver() -> Any:
    """multiprocessing's fork-server context with :data:`PRELOAD` loaded, or None where there is none."""
    if not sys.platform.startswith("linux") or os.environ.get("BLOCKSPEC_MUTANT_SUBPROCESS") == "1":
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _mutant_process(  # a child of the fork server
    args: list[str], cwd: str, log: str, trace: tuple[RunRequest, Path] | None
) -> None:
    from conformance.run.isolate import _die_with_parent

    _die_with_parent()  # the server outlives no run: when it goes, so does this run
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["blockspec", *args]
    code = 0
    try:
        if trace is not None:
            code = _traced_run(*trace)
        else:  # what `python -m conformance *args` runs, in this already warm process
            runpy.run_module("conformance", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _traced_run(request: RunRequest, trace_file: Path) -> int:
    """``request`` run in this process, writing to ``trace_file`` what each clause reads of the backend."""
    from conformance.run.cache import compile_cache
    from conformance.run.inprocess import run_suite

    module, _, name = request.target.partition(":")
    trace = _access.AccessTrace()
    trace.install(getattr(importlib.import_module(module), name))
    with compile_cache(None):
        result = run_suite(request, plugins=[trace])
    write_text_atomic(trace_file, json.dumps(trace.as_json()))
    return result.exit_code


def _run_process(
    args: list[str], *, cwd: Path, log: Path, timeout: float, trace: tuple[RunRequest, Path] | None = None
) -> tuple[int | None, str]:
    """``blockspec *args`` in a fresh process in ``cwd``: its exit status and output.

    The process is forked from a server that has imported :data:`PRELOAD`
    already (Linux), else started as ``python -m conformance``; either way it
    shares nothing with this process or another mutant's. ``trace`` (a request
    and a file): run that request instead, writing what each clause read of the
    backend to the file; only a forked process does (elsewhere: no result).
    """
    context = _forkserver()
    if context is None and trace is not None:
        return None, "no fork server here to trace a run in"
    if context is None:
        command = [sys.executable, "-m", "conformance", *args]
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return completed.returncode, completed.stdout + completed.stderr
    process = context.Process(target=_mutant_process, args=(args, str(cwd), str(log), trace), daemon=True)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        raise subprocess.TimeoutExpired(["blockspec", *args], timeout)
    with contextlib.suppress(OSError):
        return process.exitcode, log.read_text(encoding="utf-8", errors="replace")
    return process.exitcode, ""


def judge(run: MutantRun) -> str:
    """Why ``run`` is not a clean kill, or ``""`` when it is."""
    mutant, statuses = run.mutant, run.statuses
    if mutant.target not in statuses:
        return f"target {mutant.target} is not a clause of the catalogue"
    status = statuses[mutant.target]
    if status not in ("fail", "error"):
        return f"survived: {mutant.target} is {status!r}; expected fail or error"
    collateral = {
        cid: s
        for cid, s in statuses.items()
        if cid != mutant.target
        and run.levels[cid] == "MUST"
        and s in ("fail", "error")
        and not (cid in run.known_unwaived and s == "fail")  # the backend's own known failure, not the mutant's
    }
    if collateral:
        return f"also fails unrelated MUST clauses {collateral} (make them depend on {mutant.target}, or narrow the mutant)"
    honest_red = any(statuses.get(cid) == "fail" for cid in run.known_unwaived)
    expected_exit = 1 if run.levels[mutant.target] == "MUST" or honest_red else 0
    if run.exit_code != expected_exit:
        return f"exit status {run.exit_code}; expected {expected_exit} ({mutant.target} is {run.levels[mutant.target]})"
    return ""


def run_all(
    mutants: Sequence[Mutant],
    *,
    cwd: Path,
    jobs: int,
    profile: str | None = None,
    shapes: str | None = None,
    whole_suite: bool = False,
) -> list[MutantRun]:
    def one(mutant: Mutant) -> MutantRun:
        return run_mutant(mutant, cwd=cwd, profile=profile, shapes=shapes, whole_suite=whole_suite)

    def prepare(_: int) -> None:
        prepare_baselines(mutants, cwd=cwd, profile=profile, shapes=shapes)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        if not whole_suite:  # the base runs first, side by side, so that no job waits on another's
            list(pool.map(prepare, range(max(1, jobs))))
        return list(pool.map(one, mutants))


def matrix_lines(runs: Sequence[MutantRun], catalogue: Catalogue | None = None) -> tuple[list[str], bool]:
    """The kill matrix as text (clause -> mutants that kill it) and whether it is complete."""
    catalogue = catalogue or load_catalogue()
    killers: dict[str, list[str]] = {cid: [] for cid in catalogue}
    for run in runs:
        if run.killed:
            killers[run.mutant.target].append(run.mutant.name)
    lines = [f"{'clause':28} {'level':6} mutants that make it fail"]
    for cid, clause in catalogue.items():
        names = ", ".join(killers[cid]) or "NONE: no mutant shows this clause can fail"
        lines.append(f"{cid:28} {clause.level.value:6} {names}")
    problems = [v for v in runs if not v.killed]
    for run in problems:
        lines.append(f"NOT KILLED {run.mutant.selector} (target {run.mutant.target}): {run.problem}")
    uncaught = [cid for cid, names in killers.items() if not names]
    killed = sum(v.killed for v in runs)
    lines.append(
        f"{killed}/{len(runs)} mutants killed cleanly; "
        f"{len(catalogue) - len(uncaught)}/{len(catalogue)} clauses shown able to fail"
    )
    return lines, not problems and not uncaught


def listing(mutants: Sequence[Mutant], catalogue: Catalogue | None = None) -> list[str]:
    """Clause by clause, in catalogue order, every mutant that targets it (``module:Class``)."""
    catalogue = catalogue or load_catalogue()
    by_clause: dict[str, list[str]] = {}
    for mutant in mutants:
        by_clause.setdefault(mutant.target, []).append(mutant.selector)
    lines = []
    for cid in [*catalogue, *sorted(set(by_clause) - set(catalogue))]:
        if cid in by_clause:
            lines.append(f"{cid}:")
            lines += [f"  {selector}" for selector in sorted(by_clause[cid])]
    return lines


def main(
    modules: Sequence[str],
    *,
    jobs: int,
    json_path: Path | None,
    cwd: Path,
    clauses: Sequence[str] = (),
    list_only: bool = False,
    shapes: str | None = None,
    whole_suite: bool = False,
) -> int:
    """``blockspec kill-matrix``: 0 when every clause is killed by some mutant and every mutant cleanly.

    ``clauses`` keeps the mutants of those clauses only; ``list_only`` prints them by clause without running.
    """
    names = list(modules) or default_modules(cwd)
    if not names:
        raise UsageError(
            f"no mutant modules given and none found under {cwd / 'tests' / 'mutants'}: the built-in mutants "
            "ship with a checkout of blockspec, not with the installed package; run kill-matrix from a checkout, "
            "or name your own mutant modules (MODULE or MODULE:Class)"
        )
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    found = find_mutants(names)
    if not found:
        raise UsageError(f"no mutant (a class with a `target` clause id) in {', '.join(names)}")
    if clauses:
        catalogue = load_catalogue()
        unknown = [c for c in clauses if c not in catalogue]
        if unknown:
            raise UsageError(f"unknown clause id(s) {', '.join(unknown)}; `blockspec spec` lists them all")
        found = [m for m in found if m.target in clauses]
        if not found:
            raise UsageError(f"no mutant of {', '.join(clauses)} in {', '.join(names)}")
    if list_only:
        print("\n".join(listing(found)))
        return 0
    not_here = {m: not_runnable_here(m) for m in found}
    mutants = [m for m in found if not not_here[m]]
    print(f"running the suite on {len(mutants)} mutants from {', '.join(names)} ({jobs} at a time)", flush=True)
    runs = run_all(mutants, cwd=cwd, jobs=jobs, shapes=shapes, whole_suite=whole_suite)
    lines, complete = matrix_lines(runs)
    if clauses:  # a partial matrix: only the selected clauses are judged complete or not
        complete = all(r.killed for r in runs)
    lines += [f"NOT RUN HERE {m.selector}: {why}" for m, why in not_here.items() if why]
    print("\n".join(lines))
    if json_path is not None:
        data: dict[str, Any] = {
            "mutants": [
                {"mutant": v.mutant.selector, "target": v.mutant.target, "killed": v.killed, "problem": v.problem}
                for v in runs
            ],
            "not_run": [
                {"mutant": m.selector, "target": m.target, "reason": why} for m, why in not_here.items() if why
            ],
        }
        write_text_atomic(json_path, json.dumps(data, indent=2) + "\n")
    return 0 if complete else 1
