"""Hostile backends and options: never a false green, never a leftover process (issue: earned verdicts).

Each case runs ``blockspec run`` in a subprocess and asserts the exit
status, the message, what the result file says, and that nothing of the
run is left behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ADAPTERS_DIR, REPO_ROOT, subprocess_env, survivors

TARGET = "SEQ-INDEX"
FEW_IDS = ("SEQ-INDEX", "SEQ-ORDER", "BLOCK-NESTING")
FEW = [arg for cid in FEW_IDS for arg in ("--clause", cid)]


def blockspec(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    result = tmp_path / "r.json"
    full_env = {**subprocess_env([ADAPTERS_DIR, REPO_ROOT]), **(env or {})}
    command = [sys.executable, "-m", "conformance", "run", "--profile", "fast", "--no-shrink", "--json", str(result)]
    proc = subprocess.run(
        [*command, *args], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    data = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None
    return proc, data


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"\n--- stdout\n{proc.stdout[-2500:]}\n--- stderr\n{proc.stderr[-2500:]}"


# --- 1. verdicts only from tests that ran ----------------------------------------------------------------

ADDOPTS = {"marker": "-m slow", "keyword": "-k x", "collect-only": "--collect-only"}


@pytest.mark.parametrize("mode", ["isolated", "in-process"])
@pytest.mark.parametrize("case", list(ADDOPTS))
def test_tests_deselected_behind_blockspecs_back_are_errors_not_passes(case: str, mode: str, tmp_path: Path) -> None:
    extra = ["--in-process"] if mode == "in-process" else []
    proc, data = blockspec(["--backend", "reference", *FEW, *extra], tmp_path, {"PYTEST_ADDOPTS": ADDOPTS[case]})
    assert proc.returncode == 1, f"{case}/{mode}: observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    assert data is not None, f"{case}/{mode}: observed no result file; expected one saying why{_explain(proc)}"
    selected = {c["id"]: c for c in data["clauses"] if c["id"] in FEW_IDS}
    unrun = {cid: c["status"] for cid, c in selected.items() if c["status"] != "pass"}
    assert unrun, f"{case}/{mode}: observed every selected clause pass; expected the unrun ones as error"
    for cid, clause in selected.items():
        if clause["status"] != "pass":
            assert clause["status"] == "error", f"{case}/{mode}: observed {cid} {clause['status']}; expected error"
            assert clause["reason"].startswith("not run:"), f"{case}/{mode}: observed reason {clause['reason']!r}"
    assert "every applicable" not in proc.stdout, f"{case}/{mode}: observed a passing verdict line{_explain(proc)}"


def test_a_clause_without_any_collected_test_is_an_error(tmp_path: Path) -> None:
    """A test module that fails to import: its clauses are errors naming the collection failure."""
    suite = tmp_path / "brokensuite"
    suite.mkdir()
    (suite / "__init__.py").write_text("", encoding="utf-8")
    (suite / "test_broken.py").write_text("import no_such_module_anywhere\n", encoding="utf-8")
    env = {"PYTEST_ADDOPTS": f"--rootdir {tmp_path} {suite}"}
    proc, data = blockspec(["--backend", "reference", "--clause", TARGET, "--in-process"], tmp_path, env)
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    assert data is not None, f"observed no result file{_explain(proc)}"
    clause = next(c for c in data["clauses"] if c["id"] == TARGET)
    assert clause["status"] == "error", f"observed {TARGET} {clause['status']}; expected error"
    assert "no_such_module_anywhere" in clause["reason"], f"observed reason {clause['reason']!r}"


@pytest.mark.parametrize("mode", ["isolated", "in-process"])
def test_a_backends_keyboard_interrupt_is_its_clauses_error(mode: str, tmp_path: Path) -> None:
    extra = ["--in-process"] if mode == "in-process" else []
    proc, data = blockspec(["--backend", "hostile_adapters:KeyboardInt", *FEW, *extra], tmp_path)
    assert data is not None, f"{mode}: observed no result file{_explain(proc)}"
    by_id = {c["id"]: c for c in data["clauses"]}
    assert by_id[TARGET]["status"] == "error", f"{mode}: observed {TARGET} {by_id[TARGET]['status']}; expected error"
    assert "KeyboardInterrupt" in by_id[TARGET]["reason"], f"{mode}: observed {by_id[TARGET]['reason']!r}"
    assert proc.returncode == 1, f"{mode}: observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    others = {cid: by_id[cid]["status"] for cid in FEW_IDS if cid != TARGET}
    if mode == "isolated":  # a new child goes on with the tests left
        assert set(others.values()) == {"pass"}, f"observed {others}; expected the other clauses checked and passing"
    else:  # in process the session stops: what it did not run is said so, never passed
        for cid, status in others.items():
            assert status in ("pass", "error"), f"observed {cid} {status}; expected pass or error (not run)"


# --- 2. a backend whose import exits or interrupts ------------------------------------------------------

IMPORTS = {
    "exit0": ("exit0_on_import", "sys.exit(0)"),
    "exit3": ("exit3_on_import", "sys.exit(3)"),
    "systemexit": ("systemexit_on_import", "sys.exit('no GPU, giving up')"),
    "keyboardinterrupt": ("kbint_on_import", "KeyboardInterrupt"),
}


@pytest.mark.parametrize("mode", ["isolated", "in-process"])
@pytest.mark.parametrize("case", list(IMPORTS))
def test_a_backend_that_exits_on_import_is_refused(case: str, mode: str, tmp_path: Path) -> None:
    module, what = IMPORTS[case]
    extra = ["--in-process"] if mode == "in-process" else []
    proc, data = blockspec(["--backend", f"{module}:Backend", *extra], tmp_path)
    assert proc.returncode == 2, f"{case}/{mode}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert module in proc.stderr and what in proc.stderr, (
        f"{case}/{mode}: observed {proc.stderr[-600:]!r}; expected the module and {what!r} named"
    )
    assert "Traceback" not in proc.stderr, f"{case}/{mode}: observed a traceback{_explain(proc)}"
    assert data is None, f"{case}/{mode}: observed a result file from a backend that never loaded"


def test_a_backend_whose_import_hangs_is_refused_within_the_load_timeout(tmp_path: Path) -> None:
    start = time.monotonic()
    proc, data = blockspec(["--backend", "hang_on_import:Backend", "--load-timeout", "5"], tmp_path)
    took = time.monotonic() - start
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert "could not be loaded" in proc.stderr and "hung" in proc.stderr, f"observed {proc.stderr[-600:]!r}"
    assert "--load-timeout" in proc.stderr, f"observed {proc.stderr[-600:]!r}; expected the option to raise named"
    assert data is None, "observed a result file from a backend that never loaded"
    assert took < 120, f"observed the refusal after {took:.0f} s; expected it soon after the 5 s load timeout"


def test_a_backend_slower_to_import_than_the_test_timeout_still_loads(tmp_path: Path) -> None:
    # Loading is not a test: an 8 s import under --timeout 5 is a slow framework on a busy machine, not a hang.
    proc, data = blockspec(["--backend", "slow_import:Backend", "--clause", TARGET, "--timeout", "5"], tmp_path)
    assert proc.returncode == 0, f"observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    assert data is not None, f"observed no result file{_explain(proc)}"
    status = {c["id"]: c["status"] for c in data["clauses"]}[TARGET]
    assert status == "pass", f"observed {TARGET} {status}; expected pass once the slow import finished"


# --- 3. no process outlives the run ---------------------------------------------------------------------


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, prctl and subreapers are Linux's")


@linux_only
@pytest.mark.parametrize("adapter", ["ForksGrandchild", "ForksDaemon"])
def test_nothing_a_backend_forks_outlives_a_normal_run(adapter: str, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    proc, _ = blockspec(
        ["--backend", f"hostile_adapters:{adapter}", "--clause", TARGET],
        tmp_path,
        {"BLOCKSPEC_TEST_PID_DIR": str(pids)},
    )
    assert proc.returncode == 0, f"{adapter}: observed exit status {proc.returncode}; expected 0{_explain(proc)}"
    forked = list(pids.glob("*.pid"))
    assert forked, f"{adapter}: observed no forked process; the fixture did not run"
    alive = survivors(pids)
    assert not alive, f"{adapter}: observed {len(alive)} of {len(forked)} forked processes alive after the run"


@linux_only
def test_nothing_outlives_a_hang_kill(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    proc, data = blockspec(
        ["--backend", "hostile_adapters:HangsAfterForking", "--clause", TARGET, "--timeout", "5"],
        tmp_path,
        {"BLOCKSPEC_TEST_PID_DIR": str(pids)},
    )
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    assert data is not None and "hung" in next(c for c in data["clauses"] if c["id"] == TARGET)["reason"]
    alive = survivors(pids)
    assert not alive, f"observed {alive} alive after the hang-kill; expected the child and its daemon gone"


def _start_hanging_run(tmp_path: Path, pids: Path) -> subprocess.Popen[str]:
    env = {**subprocess_env([ADAPTERS_DIR, REPO_ROOT]), "BLOCKSPEC_TEST_PID_DIR": str(pids)}
    command = [sys.executable, "-m", "conformance", "run", "--backend", "hostile_adapters:HangsAfterForking"]
    command += ["--clause", TARGET, "--profile", "fast", "--quiet", "--timeout", "300", "--json", "r.json"]
    parent = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(pids.glob("child-*.pid")) and time.monotonic() < deadline and parent.poll() is None:
        time.sleep(0.1)
    assert list(pids.glob("child-*.pid")), f"observed no hanging child within 120 s (parent {parent.poll()})"
    return parent


@linux_only
@pytest.mark.parametrize("how", ["SIGINT", "SIGHUP", "SIGKILL"])
def test_ending_blockspec_ends_its_children(how: str, tmp_path: Path) -> None:
    """Ctrl-C gives an incomplete result (exit 130); SIGHUP exits 129; even SIGKILL orphans no child."""
    pids = tmp_path / "pids"
    pids.mkdir()
    parent = _start_hanging_run(tmp_path, pids)
    try:
        parent.send_signal(getattr(signal, how))
        status = parent.wait(timeout=60)
        stdout, stderr = parent.communicate()
    finally:
        if parent.poll() is None:
            parent.kill()
    expected = {"SIGINT": 130, "SIGHUP": 128 + signal.SIGHUP, "SIGKILL": -signal.SIGKILL}[how]
    assert status == expected, f"{how}: observed exit status {status}; expected {expected}\n{stderr[-1500:]}"
    if how == "SIGINT":
        data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert data["exit_code"] == 130 and "interrupted" in data.get("incomplete", ""), (
            f"observed exit_code {data['exit_code']}, incomplete {data.get('incomplete')!r}; expected 130, interrupted"
        )
        assert "incomplete" in stdout, f"observed a summary without 'incomplete': {stdout[-800:]!r}"
    # A SIGKILLed parent runs no code: its isolating child dies with it (PR_SET_PDEATHSIG), but a daemon the
    # backend detached is beyond reach; for the catchable signals nothing at all may remain.
    child_only = how == "SIGKILL"
    alive = survivors(pids, "child-*.pid" if child_only else "*.pid")
    survivors(pids)  # the daemon of the SIGKILL case, cleaned up either way
    assert not alive, f"{how}: observed {alive} of the run's processes alive after blockspec ended"


# --- 4. text that cannot be encoded or parsed -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["isolated", "in-process"])
def test_odd_text_in_a_message_still_gives_whole_files(mode: str, tmp_path: Path) -> None:
    """A lone surrogate, ANSI escapes and NUL: the result file is written (replaced, and said so), JUnit parses."""
    from xml.etree import ElementTree as ET

    extra = ["--in-process"] if mode == "in-process" else []
    args = ["--backend", "hostile_adapters:OddTextInMessage", "--clause", TARGET, "--junitxml", "j.xml", *extra]
    proc, data = blockspec(args, tmp_path)
    assert proc.returncode == 1, f"{mode}: observed exit status {proc.returncode}; expected 1{_explain(proc)}"
    assert "Traceback" not in proc.stderr, f"{mode}: observed a traceback{_explain(proc)}"
    assert data is not None, f"{mode}: observed no result file{_explain(proc)}"
    clause = next(c for c in data["clauses"] if c["id"] == TARGET)
    assert "caf\ufffd.pt" in clause["reason"], f"{mode}: observed reason {clause['reason']!r}; expected U+FFFD"
    assert "replaced" in data["environment"].get("blockspec_text_replaced", ""), (
        f"{mode}: observed environment {data['environment']}; expected the replacement said"
    )
    cases = list(ET.parse(tmp_path / "j.xml").getroot().iter("testcase"))  # raises if not well-formed
    assert cases, f"{mode}: observed no testcase in the JUnit file"
    for command in (["report", "r.json"], ["dashboard", "r.json", "-o", "site"]):
        shown = subprocess.run(
            [sys.executable, "-m", "conformance", *command],
            cwd=tmp_path,
            env=subprocess_env([REPO_ROOT]),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, f"{mode}: observed `{command[0]}` exit {shown.returncode}: {shown.stderr[-600:]}"


# --- 8. rerun commands reproduce -------------------------------------------------------------------------


def test_a_rerun_command_repeats_the_runs_options_and_its_verdict(tmp_path: Path) -> None:
    import shlex

    (tmp_path / "known.toml").write_text(
        '[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "len() is broken in this fake"\n', encoding="utf-8"
    )
    args = ["--backend", "crashing_adapter:RaisesInLength", "--clause", TARGET, "--seed", "7"]
    proc, data = blockspec([*args, "--known-failures", "known.toml"], tmp_path)
    assert data is not None, f"observed no result file{_explain(proc)}"
    clause = next(c for c in data["clauses"] if c["id"] == TARGET)
    assert clause["status"] == "xfail", f"observed {TARGET} {clause['status']}; expected xfail"
    rerun = clause["failure"]["rerun"]
    for part in ("--seed 7", "--no-shrink", "--known-failures known.toml", "--profile fast", f"--clause {TARGET}"):
        assert part in rerun, f"observed rerun {rerun!r}; expected {part!r} in it"
    words = shlex.split(rerun)
    assert words[0] == "blockspec", f"observed rerun {rerun!r}; expected a blockspec command"
    again = subprocess.run(
        [sys.executable, "-m", "conformance", *words[1:], "--json", "again.json", "--quiet"],
        cwd=tmp_path,
        env=subprocess_env([ADAPTERS_DIR, REPO_ROOT]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    redo = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    status = next(c["status"] for c in redo["clauses"] if c["id"] == TARGET)
    assert status == clause["status"], f"observed the rerun give {status}; expected {clause['status']}{_explain(again)}"
    assert again.returncode == proc.returncode, f"observed rerun exit {again.returncode}; expected {proc.returncode}"


# --- 5. malformed input to the run ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3"])
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(value: str, tmp_path: Path) -> None:
    proc, data = blockspec(["--backend", "reference", "--clause", TARGET, f"--timeout={value}"], tmp_path)
    assert proc.returncode == 2, (
        f"--timeout {value}: observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    )
    assert "--timeout" in proc.stderr and "Traceback" not in proc.stderr, f"observed {proc.stderr[-600:]!r}"
    assert data is None, f"--timeout {value}: observed a result file from a refused run"


def test_a_backend_whose_accelerators_raise_gets_errors_for_those_clauses_only(tmp_path: Path) -> None:
    args = ["--backend", "hostile_adapters:AcceleratorsRaise", "--clause", TARGET, "--clause", "DEV-TENSOR-PLACEMENT"]
    proc, data = blockspec(args, tmp_path)
    assert data is not None, f"observed no result file{_explain(proc)}"
    by_id = {c["id"]: c for c in data["clauses"]}
    placement = by_id["DEV-TENSOR-PLACEMENT"]
    assert placement["status"] == "error", f"observed DEV-TENSOR-PLACEMENT {placement['status']}; expected error"
    assert "simulated driver failure" in placement["reason"], f"observed reason {placement['reason']!r}"
    assert by_id[TARGET]["status"] == "pass", f"observed {TARGET} {by_id[TARGET]['status']}; expected pass"
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"


def test_a_clause_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    proc, data = blockspec(["--backend", "reference", "--clause", f"{TARGET}\n"], tmp_path)
    assert proc.returncode == 2, f"observed exit status {proc.returncode}; expected 2{_explain(proc)}"
    assert data is None, "observed a result file from a refused run"


def test_a_failure_whose_shrinking_outlasts_the_timeout_is_still_a_fail_with_its_example(tmp_path: Path) -> None:
    """The timeout bounds finding; shrinking stops at a share of it, so the counterexample is never lost."""
    args = ["--backend", "hostile_adapters:SlowToShrink", "--clause", TARGET, "--timeout", "12"]
    result = tmp_path / "r.json"
    command = [sys.executable, "-m", "conformance", "run", "--profile", "ci", "--json", str(result), *args]
    env = subprocess_env([ADAPTERS_DIR, REPO_ROOT])
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    data = json.loads(result.read_text(encoding="utf-8"))
    clause = next(c for c in data["clauses"] if c["id"] == TARGET)
    assert clause["status"] == "fail", (
        f"observed {TARGET} {clause['status']} ({clause['reason'][:200]!r}); expected fail"
    )
    assert clause["failure"]["example"], "observed a failure without its example; expected the example as found"
    assert proc.returncode == 1, f"observed exit status {proc.returncode}; expected 1{_explain(proc)}"
