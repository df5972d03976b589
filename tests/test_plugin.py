"""The pytest plugin (``pytest11`` entry point ``blockspec``), driven through ``pytester``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spec import load_catalogue
from tests.helpers import ADAPTERS_DIR, pytester_output, run_python

PLAIN_TESTS = """
import sys

def test_arithmetic():
    assert 1 + 1 == 2

def test_plugin_is_loaded_but_idle(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("blockspec"), "the blockspec plugin is not registered"
    assert pytestconfig.getoption("blockspec_backend") is None
    loaded = sorted(m for m in ("torch", "jax", "flax", "conformance._session") if m in sys.modules)
    assert loaded == [], f"an idle plugin imported {loaded}"
"""


def test_plugin_is_inert_without_a_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, f"observed exit status {result.ret}; expected 0{pytester_output(result)}"
    result.assert_outcomes(passed=2)
    assert "blockspec conformance" not in result.stdout.str(), f"observed a blockspec section{pytester_output(result)}"


def test_clause_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.clause("SEQ-INDEX")
        def test_cites_a_clause():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    assert result.ret == pytest.ExitCode.OK, f"observed exit status {result.ret}; expected 0{pytester_output(result)}"
    result.assert_outcomes(passed=1)
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.clause(" in markers, "observed `pytest --markers` without the clause marker"


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    text = pytester.runpytest("--help").stdout.str()
    for option in ("--blockspec-backend", "--blockspec-device", "--blockspec-json", "--blockspec-clause"):
        assert option in text, f"observed `pytest --help` without {option}"


@pytest.fixture(scope="module")
def no_backend_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    """The conformance suite run by plain pytest, without ``--blockspec-backend``: (exit status, output)."""
    where = tmp_path_factory.mktemp("no-backend")
    proc = run_python(["-m", "pytest", "--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-q"], where)
    return proc.returncode, proc.stdout + proc.stderr


def test_suite_without_a_backend_says_to_pass_one(no_backend_run: tuple[int, str]) -> None:
    code, output = no_backend_run
    assert code != pytest.ExitCode.OK, f"observed exit status {code}; expected a failure\n{output[-3000:]}"
    assert " passed" not in output, f"observed conformance tests passing without a backend\n{output[-3000:]}"
    assert "--blockspec-backend" in output, f"observed no hint to pass --blockspec-backend\n{output[-3000:]}"


def test_suite_without_a_backend_is_one_usage_error(no_backend_run: tuple[int, str]) -> None:
    code, output = no_backend_run
    assert code == pytest.ExitCode.USAGE_ERROR, f"observed exit status {code}; expected 4\n{output[-3000:]}"
    count = output.count("--blockspec-backend")
    assert count == 1, f"observed the hint {count} times; expected it once"


def test_unknown_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--blockspec-backend", "no-such-backend", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, (
        f"observed exit status {result.ret}; expected 4{pytester_output(result)}"
    )
    assert "no-such-backend" in result.stderr.str(), f"observed no mention of the backend{pytester_output(result)}"


# --- a real run through the plugin, on a backend without the `apply` capability ----------------------------

APPLY_CLAUSE = "APPLY-VISITS-ONCE"
CHECKED_CLAUSE = "SEQ-INDEX"


@pytest.fixture(scope="module")
def no_apply_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, dict[str, Any]]:
    where = tmp_path_factory.mktemp("plugin-run")
    args = [
        "-m",
        "pytest",
        "--pyargs",
        "conformance.suite",
        "-p",
        "no:cacheprovider",
        "--blockspec-backend",
        "noapply_adapter:TorchWithoutApply",
        "--blockspec-clause",
        APPLY_CLAUSE,
        "--blockspec-clause",
        CHECKED_CLAUSE,
        "--blockspec-profile",
        "fast",
        "--blockspec-json",
        "result.json",
    ]
    proc = run_python(args, where, extra_path=[ADAPTERS_DIR])
    path = where / "result.json"
    assert path.exists(), f"observed no result file (exit status {proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr, proc.returncode, json.loads(path.read_text(encoding="utf-8"))


def test_missing_capability_is_not_applicable(no_apply_run: tuple[str, int, dict[str, Any]]) -> None:
    output, code, data = no_apply_run
    assert "apply" in load_catalogue()[APPLY_CLAUSE].requires, f"{APPLY_CLAUSE} no longer requires 'apply'"
    by_id = {c["id"]: c for c in data["clauses"]}
    result = by_id[APPLY_CLAUSE]
    assert result["status"] == "not-applicable", f"observed {result['status']} ({result['reason']}); expected n/a"
    assert "apply" in result["reason"], f"observed reason {result['reason']!r}; expected the capability named"
    assert by_id[CHECKED_CLAUSE]["status"] == "pass", f"observed {by_id[CHECKED_CLAUSE]}; expected pass"
    assert code == 0, f"observed exit status {code}; expected 0 (not-applicable never fails a run)\n{output}"
    assert "blockspec conformance" in output, f"observed no blockspec summary section\n{output}"


def test_blockspec_json_writes_the_result_file(no_apply_run: tuple[str, int, dict[str, Any]]) -> None:
    _, _, data = no_apply_run
    assert data["schema_version"] == 1, f"observed schema_version {data['schema_version']}; expected 1"
    assert data["backend"]["adapter"] == "noapply_adapter:TorchWithoutApply", f"observed {data['backend']}"
    ids = [c["id"] for c in data["clauses"]]
    assert ids == list(load_catalogue()), "observed result clauses differ from the catalogue's"
    skipped = {c["status"] for c in data["clauses"] if c["id"] not in (APPLY_CLAUSE, CHECKED_CLAUSE)}
    assert skipped == {"skipped"}, f"observed statuses {skipped} for unselected clauses; expected skipped"


def test_blockspec_json_into_missing_directory_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ADAPTERS_DIR))
    target = tmp_path / "nodir" / "r.json"
    result = pytester.runpytest_subprocess(
        "--blockspec-backend", "fake_adapters:MinimalBackend", "--blockspec-json", str(target), "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR, (
        f"observed exit status {result.ret}; expected 4{pytester_output(result)}"
    )
    assert not target.parent.exists(), "observed the missing directory created"


# --- verdicts recorded from clause-marked tests, on a fake backend (no framework) ------------------------

FAKE_CLAUSE_TESTS = """
import pytest

@pytest.mark.clause("SEQ-INDEX")
def test_passes():
    pass

@pytest.mark.clause("BLOCK-FORWARD-SHAPE")
def test_violates():
    raise AssertionError("[BLOCK-FORWARD-SHAPE] minimal-fake on cpu: shape: observed (1, 2); expected (1, 3)")

@pytest.mark.clause("BLOCK-FORWARD-VALUE")
def test_violates_a_dependent():
    raise AssertionError("[BLOCK-FORWARD-VALUE] minimal-fake on cpu: output: observed 1.0; expected 2.0")

@pytest.mark.clause("APPLY-VISITS-ONCE")
def test_needs_apply():
    raise AssertionError("ran a test whose capability the backend does not declare")

@pytest.mark.clause("PARAM-TYPE")
def test_crashes():
    raise KeyError("simulated adapter bug")

@pytest.mark.clause("PARAM-LINEAR-STATE")
def test_environment_skip():
    pytest.skip("no accelerator present (simulated)")
"""

EXPECTED_STATUSES = {
    "SEQ-INDEX": "pass",
    "BLOCK-FORWARD-SHAPE": "fail",
    "BLOCK-FORWARD-VALUE": "blocked",
    "APPLY-VISITS-ONCE": "not-applicable",
    "PARAM-TYPE": "error",
    "PARAM-LINEAR-STATE": "skipped",
}


def _fake_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *extra: str) -> pytest.RunResult:
    """Run pytester's test files against ``fake_adapters:MinimalBackend`` in a subprocess.

    A subprocess, because a blockspec session makes its hypothesis profile the process-wide default.
    """
    monkeypatch.setenv("PYTHONPATH", str(ADAPTERS_DIR))
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--blockspec-backend", "fake_adapters:MinimalBackend", *extra
    )


def test_clause_outcomes_become_verdicts(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_fake_clauses=FAKE_CLAUSE_TESTS)
    result = _fake_run(pytester, monkeypatch, "--blockspec-json", "r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, (
        f"observed exit status {result.ret}; expected 1{pytester_output(result)}"
    )
    data = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in data["clauses"]}
    observed = {cid: by_id[cid]["status"] for cid in EXPECTED_STATUSES}
    assert observed == EXPECTED_STATUSES, f"observed {observed}; expected {EXPECTED_STATUSES}"
    blocked = by_id["BLOCK-FORWARD-VALUE"]["reason"]
    assert blocked.startswith("blocked by BLOCK-FORWARD-SHAPE"), f"observed reason {blocked!r}; expected the cause"
    assert "apply" in by_id["APPLY-VISITS-ONCE"]["reason"], f"observed {by_id['APPLY-VISITS-ONCE']['reason']!r}"
    assert "KeyError" in by_id["PARAM-TYPE"]["reason"], f"observed {by_id['PARAM-TYPE']['reason']!r}"
    skip_reason = by_id["PARAM-LINEAR-STATE"]["reason"]
    assert skip_reason == "no accelerator present (simulated)", f"observed skip reason {skip_reason!r}"
    failure = by_id["BLOCK-FORWARD-SHAPE"]["failure"]
    assert failure["message"].startswith("[BLOCK-FORWARD-SHAPE]"), f"observed message {failure['message']!r}"
    for part in ("--backend fake_adapters:MinimalBackend", "--clause BLOCK-FORWARD-SHAPE"):
        assert part in failure["rerun"], f"observed rerun {failure['rerun']!r}; expected {part!r} in it"
    gated = {c.id for c in load_catalogue().values() if c.requires}  # the fake declares no capability
    untested = {c["status"] for cid, c in by_id.items() if cid not in EXPECTED_STATUSES and cid not in gated}
    assert untested == {"error"}, f"observed {untested} for clauses without tests; expected error (not run)"
    reasons = {
        c["reason"].partition(":")[0] for cid, c in by_id.items() if cid not in gated and cid not in EXPECTED_STATUSES
    }
    assert reasons == {"not run"}, f"observed reasons {reasons} for clauses without tests; expected 'not run: ...'"
    assert "blockspec conformance" in result.stdout.str(), f"observed no summary section{pytester_output(result)}"


def test_clause_selection_deselects_other_tests(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_fake_clauses=FAKE_CLAUSE_TESTS)
    result = _fake_run(pytester, monkeypatch, "--blockspec-clause", "SEQ-INDEX")
    assert result.ret == pytest.ExitCode.OK, f"observed exit status {result.ret}; expected 0{pytester_output(result)}"
    result.assert_outcomes(passed=1, deselected=len(EXPECTED_STATUSES) - 1)


def test_expected_failure_is_xfail_with_its_reason(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        test_known="""
        import pytest

        @pytest.mark.clause("SEQ-INDEX")
        @pytest.mark.xfail(reason="known to fail on this backend")
        def test_known():
            raise AssertionError("[SEQ-INDEX] minimal-fake on cpu: index: observed 1; expected 0")
        """
    )
    _fake_run(pytester, monkeypatch, "--blockspec-json", "r.json")
    data = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    result = next(c for c in data["clauses"] if c["id"] == "SEQ-INDEX")
    assert result["status"] == "xfail", f"observed {result['status']}; expected xfail"
    assert result["reason"] == "known to fail on this backend", f"observed reason {result['reason'][:200]!r}"


def test_bare_assertion_is_a_fail_not_a_crash(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        test_bare="""
        import pytest

        @pytest.mark.clause("SEQ-ORDER")
        def test_bare():
            raise AssertionError()
        """
    )
    result = _fake_run(pytester, monkeypatch, "--blockspec-json", "r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, (
        f"observed exit status {result.ret}; expected 1{pytester_output(result)}"
    )
    data = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    status = next(c["status"] for c in data["clauses"] if c["id"] == "SEQ-ORDER")
    assert status == "fail", f"observed {status}; expected fail"
