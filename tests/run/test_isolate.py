"""Isolation: a backend that raises, hangs or kills its process in one clause still gets a complete report.

Each adapter in tests/fixtures/adapters/crashing_adapter.py is the reference
backend with ``len(net)`` broken, which only the SEQ-INDEX test calls. The
whole suite runs through ``blockspec run`` (isolated by default); SEQ-INDEX
must be ``error`` with the reason, every other clause must get the verdict
the reference earns (pass), and the exit status must say a MUST clause failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from spec import load_catalogue
from tests.helpers import alive

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ROOT / "tests" / "fixtures" / "adapters"
TARGET = "SEQ-INDEX"

#: (adapter, extra arguments, words the reason must contain)
CASES = {
    "raises": ("RaisesInLength", [], "RuntimeError: simulated framework bug"),
    "os._exit": ("ExitsInLength", ["--quiet"], "exited with status 3"),
    "segfault": ("SegfaultsInLength", ["--junitxml", "junit.xml"], "SIGSEGV"),
    "hang": ("HangsInLength", ["--timeout", "20"], "hung: no verdict within 20 s"),
    # Two test processes (pytest-xdist): a worker that dies, or a test that hangs, is still that test's error.
    "segfault -n 2": ("SegfaultsInLength", ["-n", "2", "--junitxml", "junit.xml"], "crashed"),
    "hang -n 2": ("HangsInLength", ["-n", "2", "--timeout", "20"], "hung: no verdict within 20 s"),
}
#: Cases run side by side in one test: each waits out its 20 s hang, so together they wait once.
TOGETHER = (("hang", "hang -n 2"),)
GROUPS = [*TOGETHER] + [(case,) for case in CASES if not any(case in g for g in TOGETHER)]


def run_blockspec(adapter: str, extra: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    result_file = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ADAPTERS), str(ROOT)])}
    command = [sys.executable, "-m", "conformance", "run", "--backend", f"crashing_adapter:{adapter}"]
    command += ["--profile", "fast", "--no-shrink", "--json", str(result_file), *extra]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    data = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else None
    return proc, data


@pytest.mark.parametrize("group", GROUPS, ids=[" and ".join(g) for g in GROUPS])
def test_a_misbehaving_clause_leaves_a_complete_report(group: tuple[str, ...], tmp_path: Path) -> None:
    with ThreadPoolExecutor(len(group)) as pool:
        runs = {}
        for case in group:
            (tmp_path / case).mkdir()
            adapter, extra, _ = CASES[case]
            runs[case] = pool.submit(run_blockspec, adapter, extra, tmp_path / case)
    for case, future in runs.items():
        check_report(case, *future.result(), tmp_path / case)


def check_report(case: str, proc: subprocess.CompletedProcess[str], data: Any, where_run: Path) -> None:
    """The run of ``case`` wrote a complete result file and junit file, and said one line per test."""
    _, extra, reason = CASES[case]
    where = f"\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-2000:]}"
    assert data is not None, f"{case}: observed no result file (exit {proc.returncode}); expected one{where}"
    ids = [c["id"] for c in data["clauses"]]
    assert ids == list(load_catalogue()), f"{case}: observed clauses {ids}; expected every catalogue clause"
    by_id = {c["id"]: c for c in data["clauses"]}
    target = by_id[TARGET]
    assert target["status"] == "error", f"{case}: observed {TARGET} {target['status']}; expected error{where}"
    message = (target["failure"] or {}).get("message", "")
    assert reason in message, f"{case}: observed message {message[:500]!r}; expected it to contain {reason!r}"
    others = {cid: c["status"] for cid, c in by_id.items() if cid != TARGET and c["status"] != "pass"}
    assert not others, f"{case}: observed other clauses without their verdict {others}; expected all pass{where}"
    assert proc.returncode == 1, f"{case}: observed exit status {proc.returncode}; expected 1 (a MUST clause errs)"
    assert data["exit_code"] == 1, f"{case}: observed exit_code {data['exit_code']} in the file; expected 1"
    progress = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    tests = sum(len(c["tests"]) for c in data["clauses"])
    if "--quiet" in extra:
        assert not progress, f"{case}: observed progress lines {progress[:3]} with --quiet; expected none"
    else:
        assert len(progress) == tests, (
            f"{case}: observed {len(progress)} progress lines; expected one per test ({tests})"
        )
    if "--junitxml" in extra:
        check_junit(where_run / "junit.xml", tests, reason)


def check_junit(path: Path, tests: int, reason: str) -> None:
    """The JUnit file has every test, the crashed one as an error, and clause ids as properties."""
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == tests, f"observed {len(cases)} testcases in {path.name}; expected {tests}"
    errors = [c for c in cases if c.find("error") is not None]
    assert len(errors) == 1, f"observed {len(errors)} errored testcases; expected 1 (the crashed test)"
    clause = {p.get("name"): p.get("value") for p in errors[0].iter("property")}.get("clause")
    assert clause == TARGET, f"observed clause property {clause!r} on the crashed testcase; expected {TARGET}"
    text = errors[0].find("error").text or ""  # type: ignore[union-attr]
    assert reason in text, f"observed error text {text[:300]!r}; expected {reason!r} in it"


def test_in_process_runs_share_the_verdicts(tmp_path: Path) -> None:
    """--in-process gives the same verdict for a raising backend (only crashes and hangs need the child)."""
    proc, data = run_blockspec("RaisesInLength", ["--in-process", "--clause", TARGET], tmp_path)
    assert data is not None, f"observed no result file (exit {proc.returncode}): {proc.stderr[-2000:]}"
    status = next(c["status"] for c in data["clauses"] if c["id"] == TARGET)
    assert status == "error", f"observed {TARGET} {status} in process; expected error"
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1"


def test_a_non_positive_timeout_is_a_usage_error(tmp_path: Path) -> None:
    proc, data = run_blockspec("RaisesInLength", ["--timeout", "0"], tmp_path)
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2: {proc.stderr[-500:]}"
    assert "--timeout" in proc.stderr, f"observed {proc.stderr[-500:]!r}; expected the option named"
    assert data is None, "observed a result file from a refused run; expected none"


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGTERM are POSIX")
def test_a_terminated_run_takes_its_child_with_it(tmp_path: Path) -> None:
    """CI's job timeout sends SIGTERM to blockspec: the suite's child (in its own session) must die too."""
    import signal
    import time

    marker = tmp_path / "child-pid"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ADAPTERS), str(ROOT)]),
        "BLOCKSPEC_TEST_PID_FILE": str(marker),
    }
    command = [sys.executable, "-m", "conformance", "run", "--backend", "crashing_adapter:HangsInLengthWritingPid"]
    command += ["--clause", TARGET, "--profile", "fast", "--quiet", "--timeout", "300"]
    parent = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), f"observed no hanging child within 120 s (parent status {parent.poll()})"
        child = int(marker.read_text(encoding="utf-8"))
        parent.send_signal(signal.SIGTERM)
        status = parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert status == 128 + signal.SIGTERM, f"observed exit status {status}; expected {128 + signal.SIGTERM}"
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphaned = alive(child)
    if orphaned:
        os.kill(child, signal.SIGKILL)  # leave no busy loop behind a failed test
    assert not orphaned, f"observed the suite's child {child} still running after its parent ended"


def _without_timings(data: dict[str, Any]) -> dict[str, Any]:
    """The result file less what differs between processes: times, and object addresses in reprs."""
    import re

    data = json.loads(re.sub(r"0x[0-9a-f]{6,}", "0x?", json.dumps(data)))
    data = {k: v for k, v in data.items() if k not in ("started", "duration_s")}
    data["clauses"] = [
        {**c, "tests": sorted(({**t, "duration_s": 0} for t in c["tests"]), key=lambda t: t["nodeid"])}
        for c in data["clauses"]
    ]
    return data


def test_isolated_and_in_process_runs_build_the_same_result(tmp_path: Path) -> None:
    """One result builder: the two paths feed it the same events, so their files differ only in timings."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ADAPTERS), str(ROOT)])}
    files = {}
    for mode in ("isolated", "in-process"):
        path = tmp_path / f"{mode}.json"
        command = [sys.executable, "-m", "conformance", "run", "--backend", "crashing_adapter:RaisesInLength"]
        command += ["--profile", "fast", "--no-shrink", "--quiet", "--json", str(path)]
        command += ["--in-process"] if mode == "in-process" else []
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 1, (
            f"{mode}: observed exit status {proc.returncode}; expected 1: {proc.stderr[-1500:]}"
        )
        files[mode] = _without_timings(json.loads(path.read_text(encoding="utf-8")))
    isolated, in_process = files["isolated"], files["in-process"]
    differing = [c["id"] for c, d in zip(isolated["clauses"], in_process["clauses"], strict=True) if c != d] + [
        k for k in isolated if k != "clauses" and isolated[k] != in_process.get(k)
    ]
    assert not differing, f"observed the isolated and in-process results differ in {differing}; expected only timings"


def test_workers_cannot_run_in_process(tmp_path: Path) -> None:
    proc, data = run_blockspec("RaisesInLength", ["--in-process", "-n", "2"], tmp_path)
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2: {proc.stderr[-500:]}"
    assert "-n" in proc.stderr and data is None, f"observed {proc.stderr[-500:]!r}; expected -n named, no result file"


def test_test_processes_share_the_cores_unless_the_user_set_a_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under -n N each test process gets cores/N OpenMP threads (at least one); -n 1 and a user's setting stay."""
    from conformance.run import isolate

    monkeypatch.setattr(isolate.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    shares = {n: isolate.threads_per_process(n) for n in (1, 2, 3, 8, 64)}
    assert shares == {1: 8, 2: 4, 3: 2, 8: 1, 64: 1}, f"observed threads per process {shares} on 8 cores"
    monkeypatch.delenv(isolate.THREADS_ENV, raising=False)
    assert isolate._parallel_environment(1) is None, "observed -n 1 given its own environment; expected ours"
    env = isolate._parallel_environment(2) or {}
    assert env.get(isolate.THREADS_ENV) == "4", f"observed {env.get(isolate.THREADS_ENV)!r} for -n 2; expected '4'"
    monkeypatch.setenv(isolate.THREADS_ENV, "3")
    assert isolate._parallel_environment(2) is None, "observed the user's OMP_NUM_THREADS replaced; expected kept"
