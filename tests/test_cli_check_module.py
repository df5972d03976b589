"""``blockspec check-module``: the command on the run pipeline, its exit codes, result file and bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, Cli, schema_errors, subprocess_env

FAST = ["--profile", "fast"]


def test_the_chapter_fixed_hidden_mlp_fails_its_clauses_and_the_file_renders(
    cli: Cli, tmp_path: Path, result_validator: object
) -> None:
    args = ["check-module", "tests.modules.broken:FixedHiddenMLP", "--input-shape", "2,20", *FAST]
    args += ["--clause", "MOD-REGISTERED", "--clause", "MOD-DTYPE-MOVE", "--json", "m.json", "--junitxml", "m.xml"]
    proc = cli(args, extra_path=[REPO_ROOT])
    assert proc.returncode == 1, (
        f"observed exit status {proc.returncode}; expected 1\n{proc.stdout[-2000:]}{proc.stderr}"
    )
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert schema_errors(result_validator, data) == [], "observed a module result file off the schema"  # type: ignore[arg-type]
    by_id = {c["id"]: c for c in data["clauses"]}
    for cid in ("MOD-REGISTERED", "MOD-DTYPE-MOVE"):
        assert by_id[cid]["status"] == "fail", f"observed {cid} {by_id[cid]['status']}; expected fail"
        assert "rand_weight" in by_id[cid]["failure"]["message"], f"observed {by_id[cid]['failure']['message']!r}"
        assert by_id[cid]["failure"]["rerun"].startswith("blockspec check-module tests.modules.broken:FixedHiddenMLP")
    assert all(c["id"].startswith("MOD-") for c in data["clauses"]), "observed chapter clauses in a module check"
    for command in (["report", "m.json"], ["dashboard", "m.json", "-o", "site"]):
        shown = cli(command)
        assert shown.returncode == 0, (
            f"observed `blockspec {command[0]}` exit {shown.returncode}: {shown.stderr[-800:]}"
        )
    assert (tmp_path / "site" / "index.html").exists(), "observed no dashboard for a module check"


def test_a_correct_module_passes(cli: Cli, tmp_path: Path) -> None:
    args = ["check-module", "tests.modules.correct:MLP", "--input-shape", "4,20", *FAST, "--clause", "MOD-REGISTERED"]
    proc = cli([*args, "--clause", "MOD-GRAD-REACHES", "--json", "m.json"], extra_path=[REPO_ROOT])
    assert proc.returncode == 0, (
        f"observed exit status {proc.returncode}; expected 0\n{proc.stdout[-2000:]}{proc.stderr}"
    )
    said = "train/eval (informational): outputs equal in train() and eval()"
    assert said in proc.stdout, f"observed {proc.stdout[-1500:]!r}; expected {said!r}"
    environment = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["environment"]
    assert environment.get("module_train_eval", "").startswith("outputs equal"), (
        f"observed environment {environment}; expected the informational train/eval finding"
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["no.such.module:Net", "--input-shape", "4,6"], "no.such.module"),
        (["tests.modules.correct:MLP", "--input-shape", "0,6"], "positive"),
        (["tests.modules.correct:MLP", "--input-shape", "four"], "comma-separated"),
        (["tests.modules.correct:MLP"], "--input-shape"),
        (["tests.modules.correct:MLP", "--input-shape", "4,7"], "tests.modules.correct:MLP"),
        (["tests.modules.correct:MLP", "--input-shape", "4,20", "--exclude", "MOD-NOPE"], "MOD-NOPE"),
        (["torch.nn:Linear(6, open('x'))", "--input-shape", "4,6"], "literals"),
        (
            [
                "tests.modules.correct:MLP",
                "--input-shape",
                "4,20",
                "--clause",
                "MOD-REGISTERED",
                "--exclude",
                "MOD-REGISTERED",
            ],
            "leaves no module-contract clause",
        ),
    ],
    ids=[
        "unimportable",
        "zero-dim",
        "not-a-shape",
        "no-shape",
        "wrong-width",
        "unknown-exclude",
        "non-literal-args",
        "all-excluded",
    ],
)
def test_bad_targets_and_shapes_exit_2_with_a_message(args: list[str], says: str, cli: Cli, tmp_path: Path) -> None:
    proc = cli(["check-module", *args, *FAST, "--json", "m.json"], extra_path=[REPO_ROOT])
    assert proc.returncode == 2, (
        f"observed exit status {proc.returncode}; expected 2\n{proc.stdout[-1500:]}{proc.stderr}"
    )
    assert says in proc.stderr, f"observed {proc.stderr[-800:]!r}; expected {says!r} in the message"
    assert "Traceback" not in proc.stderr, f"observed a traceback: {proc.stderr[-1500:]}"
    assert not (tmp_path / "m.json").exists(), "observed a result file from a refused check"


def test_a_forward_that_hangs_is_an_error_and_the_result_file_is_complete(cli: Cli, tmp_path: Path) -> None:
    args = ["check-module", "hanging_modules:HangsOnOddBatches", "--input-shape", "4,6", *FAST, "--timeout", "10"]
    args += ["--clause", "MOD-ANY-BATCH", "--clause", "MOD-REGISTERED"]
    proc = cli([*args, "--json", "m.json"], extra_path=[REPO_ROOT / "tests" / "fixtures" / "modules", REPO_ROOT])
    assert proc.returncode == 1, (
        f"observed exit status {proc.returncode}; expected 1\n{proc.stdout[-2000:]}{proc.stderr}"
    )
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    hung = [c["id"] for c in data["clauses"] if c["status"] == "error" and "hung" in c["reason"]]
    assert "MOD-ANY-BATCH" in hung, f"observed hung clauses {hung}; expected MOD-ANY-BATCH (it draws batch 1)"
    registered = next(c for c in data["clauses"] if c["id"] == "MOD-REGISTERED")
    status = registered["status"]
    assert status in ("pass", "error", "blocked"), f"observed MOD-REGISTERED {status}; expected a verdict"
    assert not [c["id"] for c in data["clauses"] if c["status"] == "pending"], "observed pending clauses"


def test_the_module_contract_fixture_checks_a_users_module_in_their_own_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_users_models="""
        from torch import nn

        class Good(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(6, 4), nn.Linear(4, 2)])

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x

        class PlainList(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(6, 4), nn.Linear(4, 2)]

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x

        def test_good(module_contract):
            module_contract(Good, input_shape=(4, 6), clauses=["MOD-REGISTERED"])

        def test_plain_list(module_contract):
            module_contract(PlainList, input_shape=(4, 6), clauses=["MOD-REGISTERED"])
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--blockspec-profile", "fast")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    assert "MOD-REGISTERED" in text and "nn.ModuleList" in text, f"observed no clause or fix in:\n{text[-3000:]}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the isolating child")
def test_sigterm_writes_the_result_file_marked_incomplete(tmp_path: Path, result_validator: object) -> None:
    """A CI job's timeout (SIGTERM) leaves a result file, marked incomplete, as Ctrl-C does; exit 128 + 15."""
    env = subprocess_env([REPO_ROOT / "tests" / "fixtures" / "modules", REPO_ROOT])
    command = [sys.executable, "-m", "conformance", "check-module", "hanging_modules:HangsOnOddBatches"]
    command += ["--input-shape", "4,6", *FAST, "--timeout", "300", "--quiet", "--json", "m.json"]
    parent = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    deadline = time.monotonic() + 120
    try:
        while parent.poll() is None and time.monotonic() < deadline and not children.read_text().strip():
            time.sleep(0.1)
        time.sleep(1.0)
        parent.send_signal(signal.SIGTERM)
        status = parent.wait(timeout=60)
        _, stderr = parent.communicate()
    finally:
        if parent.poll() is None:
            parent.kill()
    assert status == 128 + signal.SIGTERM, f"observed exit status {status}; expected 143\n{stderr[-1500:]}"
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert "SIGTERM" in data.get("incomplete", ""), (
        f"observed incomplete {data.get('incomplete')!r}; expected the run marked terminated by SIGTERM"
    )
    assert (data.get("exit_code"), data.get("signal")) == (status, "SIGTERM"), (
        f"observed exit_code {data.get('exit_code')!r} and signal {data.get('signal')!r} in the result file; "
        f"expected {status} (what the process exited with) and 'SIGTERM'"
    )
    assert schema_errors(result_validator, data) == [], "observed a terminated run's result file off the schema"  # type: ignore[arg-type]


@pytest.mark.parametrize(("signal_name", "code"), [("", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_the_recorded_exit_code_is_the_one_the_process_exits_with(
    signal_name: str, code: int, result_validator: object
) -> None:
    """An interrupted run records 130 (Ctrl-C); one a signal ended records 128 + the signal, as the process exits."""
    from conformance.run.result import RunResult

    result = RunResult({"name": "m", "version": "1"}, "cpu", "fast", [], "2026-01-01T00:00:00", 1.0)
    result.incomplete, result.signal = f"terminated by {signal_name or 'Ctrl-C'}", signal_name
    data = result.to_json()
    assert (result.exit_code, data["exit_code"], data.get("signal", "")) == (code, code, signal_name), (
        f"observed exit_code {result.exit_code} (file {data['exit_code']}, signal {data.get('signal')!r}); "
        f"expected {code} and {signal_name!r}"
    )
    assert schema_errors(result_validator, data) == [], f"observed {data} off the schema"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SIGKILL"):
        RunResult({"name": "m"}, "cpu", "fast", [], "2026-01-01T00:00:00", 1.0, signal="SIGKILL")
