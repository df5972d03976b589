"""Hostile input, round two (issue 24): parallel runs, the journal, output paths, temp directories, messages.

Each case runs ``blockspec`` in a subprocess with its own ``TMPDIR`` and
asserts the exit status, the message, the result file, and that no
temporary directory of the run is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ADAPTERS_DIR, REPO_ROOT, subprocess_env, survivors

MODULES_DIR = REPO_ROOT / "tests" / "fixtures" / "modules"
TARGET = "SEQ-INDEX"
#: Clauses of one test module, so that under -n 2 other tests run beside the misbehaving one.
CLAUSES = ("SEQ-INDEX", "SEQ-ORDER", "BLOCK-NESTING", "BLOCK-FORWARD-SHAPE", "BLOCK-REGISTRATION", "CONTROL-FLOW")
SOME = [arg for cid in CLAUSES for arg in ("--clause", cid)]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs, /proc and /dev are POSIX's")


def blockspec(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance *args`` in ``tmp_path``, with ``tmp_path/tmp`` as its temp directory."""
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    full_env = {**subprocess_env([ADAPTERS_DIR, MODULES_DIR, REPO_ROOT]), "TMPDIR": str(temp), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(args: list[str], tmp_path: Path, name: str = "r.json", **kw: Any) -> tuple[Any, dict[str, Any] | None]:
    result = tmp_path / name
    proc = blockspec(["run", "--profile", "fast", "--no-shrink", "--quiet", "--json", name, *args], tmp_path, **kw)
    return proc, json.loads(result.read_text(encoding="utf-8")) if result.exists() else None


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout\n{proc.stdout[-2500:]}\n--- stderr\n{proc.stderr[-2500:]}"


def _left_in_temp(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir())


def _verdicts(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["id"]: (c["status"], c["reason"]) for c in data["clauses"]}


# --- 1. the journal is data ---------------------------------------------------------------------------


def test_a_garbled_journal_line_is_a_harness_error_of_its_test_and_the_file_is_complete(tmp_path: Path) -> None:
    proc, data = run(["--backend", "hostile_adapters:GarblesJournal", *SOME], tmp_path)
    assert "Traceback" not in proc.stderr, f"observed a traceback{_explain(proc)}"
    assert data is not None, (
        f"observed no result file (exit {proc.returncode}); expected a complete one{_explain(proc)}"
    )
    verdicts = _verdicts(data)
    status, reason = verdicts[TARGET]
    assert status == "error" and "malformed line" in reason and "harness error" in reason, (
        f"observed {TARGET} {status}: {reason[:300]!r}; expected a harness error naming the malformed line"
    )
    others = {cid: verdicts[cid][0] for cid in CLAUSES if cid != TARGET}
    assert set(others.values()) == {"pass"}, f"observed {others}; expected the other clauses checked and passing"
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    assert not _left_in_temp(tmp_path), f"observed {_left_in_temp(tmp_path)} left in the temp directory"


# --- 2. -n N gives the result file -n 1 gives -------------------------------------------------------------

#: (adapter, extra arguments): every hostile backend in tests/fixtures/adapters that misbehaves inside a test.
EQUIVALENT = {
    "raises": ("crashing_adapter:RaisesInLength", []),
    "exit3": ("crashing_adapter:ExitsInLength", []),
    "exit0": ("crashing_adapter:ExitsZeroInLength", []),
    "segfault": ("crashing_adapter:SegfaultsInLength", []),
    "hang": ("crashing_adapter:HangsInLength", ["--timeout", "8"]),
    "keyboard-interrupt": ("hostile_adapters:KeyboardInt", []),
    "forks": ("hostile_adapters:ForksGrandchild", []),
    "forks-daemon": ("hostile_adapters:ForksDaemon", []),
    "forks-and-hangs": ("hostile_adapters:HangsAfterForking", ["--timeout", "8"]),
    "odd-text": ("hostile_adapters:OddTextInMessage", []),
    "garbles-journal": ("hostile_adapters:GarblesJournal", []),
    "thread": ("hostile_adapters:StartsAThread", []),
}


@linux_only
@pytest.mark.parametrize("case", list(EQUIVALENT))
def test_two_test_processes_give_the_result_file_of_one(case: str, tmp_path: Path) -> None:
    """Clause by clause, status and reason: a misbehaving test never changes other verdicts under -n 2."""
    adapter, extra = EQUIVALENT[case]
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"BLOCKSPEC_TEST_PID_DIR": str(pids)}
    files = {}
    # The two runs side by side: a hang is waited out once per test, not once per run.
    with ThreadPoolExecutor(2) as pool:
        runs = {
            workers: pool.submit(
                run, ["--backend", adapter, *SOME, *extra, "-n", workers], tmp_path, f"r{workers}.json", env=env
            )
            for workers in ("1", "2")
        }
    for workers, future in runs.items():
        proc, data = future.result()
        assert data is not None, f"{case} -n {workers}: observed no result file{_explain(proc)}"
        assert "INTERNALERROR" not in proc.stdout + proc.stderr, f"{case} -n {workers}: observed{_explain(proc)}"
        files[workers] = (proc.returncode, _verdicts(data))
    (code1, serial), (code2, parallel) = files["1"], files["2"]
    differing = {cid: (serial[cid], parallel[cid]) for cid in serial if serial[cid] != parallel[cid]}
    assert not differing, f"{case}: observed clauses differ between -n 1 and -n 2 (-n 1, -n 2): {differing}"
    assert code1 == code2, f"{case}: observed exit status {code1} with -n 1 and {code2} with -n 2"
    assert not _left_in_temp(tmp_path), f"{case}: observed {_left_in_temp(tmp_path)} left in the temp directory"
    alive = survivors(pids)
    assert not alive, f"{case}: observed {alive} forked by the backend alive after the runs"
    if case == "forks-and-hangs":  # a hang is waited out once per run: -n 2 decides it, never reruns it to hang again
        hung = len(list(pids.glob("child-*.pid")))
        assert hung == 2, f"{case}: observed the hanging test started {hung} times in two runs; expected 2"


def test_more_test_processes_than_tests_give_the_same_verdicts(tmp_path: Path) -> None:
    serial, one = run(["--backend", "reference", "--clause", TARGET, "--clause", "SEQ-ORDER"], tmp_path, "a.json")
    parallel, many = run(["--backend", "reference", "--clause", TARGET, "--clause", "SEQ-ORDER", "-n", "5"], tmp_path)
    assert one is not None and many is not None, f"observed a missing result file{_explain(parallel)}"
    assert _verdicts(one) == _verdicts(many), (
        f"observed -n 5 {_verdicts(many)[TARGET]} and -n 1 {_verdicts(one)[TARGET]}; expected the same verdicts"
    )
    assert parallel.returncode == serial.returncode == 0, f"observed {parallel.returncode}{_explain(parallel)}"
    assert not _left_in_temp(tmp_path), f"observed {_left_in_temp(tmp_path)} left in the temp directory"


def test_too_many_test_processes_are_refused_with_the_maximum(tmp_path: Path) -> None:
    proc, data = run(["--backend", "reference", "--clause", TARGET, "-n", "1000"], tmp_path)
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "-n must be between 1 and 64" in proc.stderr, f"observed {proc.stderr[-600:]!r}; expected the cap named"
    assert data is None and not _left_in_temp(tmp_path), f"observed a result file or {_left_in_temp(tmp_path)}"


# --- 3. check-module: a factory that exits --------------------------------------------------------------


@pytest.mark.parametrize(("factory", "says"), [("exits", "sys.exit(0)"), ("interrupts", "KeyboardInterrupt")])
def test_a_module_factory_that_exits_is_a_clear_usage_error(factory: str, says: str, tmp_path: Path) -> None:
    proc = blockspec(
        ["check-module", f"hostile_modules:{factory}", "--input-shape", "4,6", "--profile", "fast", "--json", "m.json"],
        tmp_path,
    )
    assert proc.returncode == 2, f"{factory}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "your module factory" in proc.stderr and says in proc.stderr, (
        f"{factory}: observed {proc.stderr[-800:]!r}; expected 'your module factory' and {says!r}"
    )
    for word in ("INTERNALERROR", "Traceback", "backend", "status 3"):
        assert word not in proc.stderr, f"{factory}: observed {word!r} in the message{_explain(proc)}"
    assert not (tmp_path / "m.json").exists(), f"{factory}: observed a result file from a refused check"


# --- 4, 5. output paths are decided before the run ------------------------------------------------------

OUTPUTS = {
    "run --json": ["run", "--clause", TARGET, "--profile", "fast", "--json", "OUT"],
    "run --junitxml": ["run", "--clause", TARGET, "--profile", "fast", "--junitxml", "OUT"],
    "check-module --json": ["check-module", "hostile_modules:StartsAThread", "--input-shape", "4,6", "--json", "OUT"],
    "spec -o": ["spec", "-o", "OUT"],
    "report -o": ["report", "r.json", "-o", "OUT"],
}


def _outputs(args: list[str], out: str) -> list[str]:
    return [out if a == "OUT" else a for a in args]


@linux_only
@pytest.mark.parametrize("kind", ["fifo", "/dev/full", "/dev/zero", "directory", "symlink loop"])
@pytest.mark.parametrize("command", list(OUTPUTS))
def test_an_output_that_is_no_regular_file_is_refused_before_anything_runs(
    command: str, kind: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "directory":
        out.mkdir()
    elif kind == "symlink loop":
        out.symlink_to("loop")
        (tmp_path / "loop").symlink_to("out")
    else:
        out = Path(kind)
    if command == "report -o":
        (tmp_path / "r.json").write_text(json.dumps(_a_result()), encoding="utf-8")
    proc = blockspec(_outputs(OUTPUTS[command], str(out)), tmp_path, timeout=120)
    assert proc.returncode == 2, f"{command} {kind}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert f"cannot write {out}" in proc.stderr, f"{command} {kind}: observed {proc.stderr[-600:]!r}"
    assert "Traceback" not in proc.stderr and "verdict" not in proc.stdout, (
        f"{command} {kind}: observed a traceback or a run before the refusal{_explain(proc)}"
    )
    assert not _left_in_temp(tmp_path), f"{command} {kind}: observed {_left_in_temp(tmp_path)} left behind"


def _a_result() -> dict[str, Any]:
    from tests.helpers import result_document

    return result_document()


@pytest.mark.parametrize("how", ["same name", "another spelling", "hard link"])
def test_two_outputs_naming_one_file_are_refused_before_the_run(how: str, tmp_path: Path) -> None:
    second = {"same name": "r.json", "another spelling": "./sub/../r.json", "hard link": "link.json"}[how]
    (tmp_path / "sub").mkdir()
    if how == "hard link":
        (tmp_path / "r.json").write_text("{}", encoding="utf-8")
        os.link(tmp_path / "r.json", tmp_path / "link.json")
    proc = blockspec(
        ["run", "--clause", TARGET, "--profile", "fast", "--json", "r.json", "--junitxml", second], tmp_path
    )
    assert proc.returncode == 2, f"{how}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "--json and --junitxml both name" in proc.stderr, f"{how}: observed {proc.stderr[-600:]!r}"
    assert "verdict" not in proc.stdout, f"{how}: observed a run before the refusal{_explain(proc)}"


def test_dev_null_and_dev_stdout_are_accepted_outputs(tmp_path: Path) -> None:
    proc = blockspec(
        ["run", "--clause", TARGET, "--profile", "fast", "-q", "--json", "/dev/stdout", "--junitxml", "/dev/null"],
        tmp_path,
    )
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert '"clauses"' in proc.stdout, f"observed no result document on stdout{_explain(proc)}"


# --- temporary directories --------------------------------------------------------------------------------


def _hanging_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A run whose test hangs, with its own TMPDIR, once its child has started the journal (or after 120 s)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**subprocess_env([ADAPTERS_DIR, REPO_ROOT]), "TMPDIR": str(temp)}
    command = [sys.executable, "-m", "conformance", "run", "--backend", "crashing_adapter:HangsInLength"]
    command += ["--clause", TARGET, "--profile", "fast", "--quiet", "--timeout", "300"]
    parent = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(temp.glob(f"blockspec-run-{parent.pid}-*/journal-0.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    return parent, temp


@linux_only
def test_a_sigkilled_runs_directories_are_named_for_it_and_removed_by_the_next_run(tmp_path: Path) -> None:
    parent, temp = _hanging_run(tmp_path)
    try:
        parent.kill()
        parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    left = [p.name for p in temp.iterdir()]
    assert left and all(name.startswith(("blockspec-run-", "blockspec-compile-cache-")) for name in left), (
        f"observed {left} after SIGKILL; expected the run's directories, named for it"
    )
    assert all(f"-{parent.pid}-" in name for name in left), f"observed {left}; expected each named for {parent.pid}"
    proc, _ = run(["--clause", TARGET], tmp_path)
    assert proc.returncode == 0, f"observed exit status {proc.returncode} of the next run{_explain(proc)}"
    assert not _left_in_temp(tmp_path), f"observed {_left_in_temp(tmp_path)} after the next run; expected none"


@linux_only
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signalled_run_leaves_no_temporary_directory(how: str, tmp_path: Path) -> None:
    parent, _ = _hanging_run(tmp_path)
    try:
        parent.send_signal(getattr(signal, how))
        status = parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert status in (130, 128 + getattr(signal, how)), f"{how}: observed exit status {status}"
    assert not _left_in_temp(tmp_path), f"{how}: observed {_left_in_temp(tmp_path)} left behind"


# --- 8. terminal escapes ------------------------------------------------------------------------------------


def test_a_backends_terminal_escapes_are_shown_not_sent_to_the_terminal(tmp_path: Path) -> None:
    proc = blockspec(["run", "--backend", "hostile_adapters:OddTextInMessage", "--clause", TARGET], tmp_path)
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        assert "\x1b" not in text and "\x07" not in text, f"observed raw escapes on {stream}: {text[-600:]!r}"
    assert "\u241b[31mred" in proc.stdout, f"observed {proc.stdout[-600:]!r}; expected ESC shown as \u241b"


# --- 9. threads that never end --------------------------------------------------------------------------


def test_a_module_that_starts_a_non_daemon_thread_does_not_hold_the_run_until_the_timeout(tmp_path: Path) -> None:
    """The session ended: nothing is waited for. (Waiting the --timeout of 600 s would trip the 300 s guard.)"""
    args = ["check-module", "hostile_modules:StartsAThread", "--input-shape", "4,6", "--profile", "fast"]
    proc = blockspec([*args, "--clause", "MOD-REGISTERED", "--timeout", "600", "--json", "m.json"], tmp_path)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert (tmp_path / "m.json").exists(), "observed no result file"
    assert not _left_in_temp(tmp_path), f"observed {_left_in_temp(tmp_path)} left behind"


# --- 10. messages that say what happened -----------------------------------------------------------------


def test_pytest_refusing_an_addopts_option_is_not_called_a_backend_crash(tmp_path: Path) -> None:
    proc, data = run(["--clause", TARGET], tmp_path, env={"PYTEST_ADDOPTS": "--lf"})
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "pytest refused" in proc.stderr and "--lf" in proc.stderr, f"observed {proc.stderr[-600:]!r}"
    assert "os._exit" not in proc.stderr, f"observed the backend blamed: {proc.stderr[-600:]!r}"
    assert data is None, "observed a result file from a refused run"


@linux_only
@pytest.mark.parametrize(
    ("kind", "says"),
    [("directory", "is a directory"), ("symlink loop", "symlink loop"), ("/dev/zero", "not a regular file")],
)
def test_a_check_module_target_that_is_no_file_says_what_it_is(kind: str, says: str, tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    if kind == "directory":
        target.mkdir()
    elif kind == "symlink loop":
        target.symlink_to("other.py")
        (tmp_path / "other.py").symlink_to("net.py")
    else:
        target = Path(kind)
    proc = blockspec(["check-module", f"{target}:Net", "--input-shape", "4,6", "--profile", "fast"], tmp_path)
    assert proc.returncode == 2, f"{kind}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert says in proc.stderr and "no file" not in proc.stderr, f"{kind}: observed {proc.stderr[-600:]!r}"


@pytest.mark.parametrize(
    ("value", "says"), [("", "empty path"), ("/proc", "kernel file system"), ("/proc/x", "kernel")]
)
def test_a_compile_cache_that_cannot_hold_files_is_refused(value: str, says: str, tmp_path: Path) -> None:
    proc, data = run(["--clause", TARGET, "--compile-cache", value], tmp_path)
    assert proc.returncode == 2, f"{value!r}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert says in proc.stderr, f"{value!r}: observed {proc.stderr[-600:]!r}; expected {says!r}"
    assert data is None, f"{value!r}: observed a result file from a refused run"
