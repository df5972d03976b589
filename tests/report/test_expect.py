"""``blockspec expect``: CI tells a backend's honest, expected verdict from a regression.

A run exits 1 whenever a MUST clause does not pass, so a framework that fails
a clause no manifest can waive is red on every commit; ``.ci/run`` compares
each result file with the backend's committed expected statuses instead.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conformance._errors import UsageError
from conformance.report.expect import differences, load_expected, render_expected
from conformance.report.loader import load_result
from tests.helpers import REPO_ROOT, result_document, run_cli, write_result

#: A backend that is honestly red: a non-waivable MUST clause fails, a known one is xfail, one is not applicable.
HONEST_RED = {"IO-NO-CODE-EXECUTION": "fail", "LAZY-LOAD-STATE": "xfail", "DEV-COUNT": "not-applicable"}


def _result(tmp_path: Path, statuses: dict[str, str], name: str = "r.json", backend: str = "fakeframe") -> Path:
    return write_result(tmp_path / name, result_document(backend=backend, statuses=statuses))


def test_written_expectations_list_every_status_but_the_default_and_match_their_run(tmp_path: Path) -> None:
    run = load_result(_result(tmp_path, HONEST_RED))
    text = render_expected(run)
    data = tomllib.loads(text)
    assert data["backend"] == "fakeframe" and data["default"] == "pass", f"observed {data}"
    assert data["clauses"] == HONEST_RED, f"observed {data['clauses']}; expected {HONEST_RED}"
    (tmp_path / "e.toml").write_text(text, encoding="utf-8")
    assert differences(run, load_expected(tmp_path / "e.toml")) == [], "observed a run differing from its own file"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"SEQ-INDEX": "fail"}, "SEQ-INDEX [MUST]: expected pass, got fail"),  # a new red
        ({"LAZY-LOAD-STATE": "pass"}, "LAZY-LOAD-STATE [MUST]: expected xfail, got pass"),  # a known failure fixed
        ({"IO-NO-CODE-EXECUTION": "error"}, "IO-NO-CODE-EXECUTION [MUST]: expected fail, got error"),
        ({"DEV-COUNT": "pass"}, "DEV-COUNT [MUST]: expected not-applicable, got pass"),  # a capability gained
    ],
)
def test_every_change_of_status_is_a_difference(tmp_path: Path, change: dict[str, str], words: str) -> None:
    (tmp_path / "e.toml").write_text(render_expected(load_result(_result(tmp_path, HONEST_RED))), encoding="utf-8")
    changed = load_result(_result(tmp_path, {**HONEST_RED, **change}, name="changed.json"))
    found = differences(changed, load_expected(tmp_path / "e.toml"))
    assert len(found) == 1 and found[0].startswith(words), f"observed {found}; expected one line starting {words!r}"


def test_the_command_passes_an_expected_red_and_fails_a_new_one(tmp_path: Path) -> None:
    expected = tmp_path / "fakeframe.toml"
    written = run_cli(["expect", str(_result(tmp_path, HONEST_RED)), str(expected), "--write"], tmp_path)
    assert written.returncode == 0 and expected.is_file(), f"observed exit {written.returncode}: {written.stderr}"
    same = run_cli(["expect", str(_result(tmp_path, HONEST_RED, name="again.json")), str(expected)], tmp_path)
    assert same.returncode == 0, f"observed exit {same.returncode} for the expected red:\n{same.stdout}{same.stderr}"
    assert "every clause has its expected status" in same.stdout, f"observed {same.stdout!r}"
    regressed = _result(tmp_path, {**HONEST_RED, "SEQ-ORDER": "fail"}, name="new.json")
    new = run_cli(["expect", str(regressed), str(expected)], tmp_path)
    assert new.returncode == 1, f"observed exit {new.returncode} for a new failure; expected 1\n{new.stdout}"
    assert "SEQ-ORDER [MUST]: expected pass, got fail" in new.stdout, f"observed {new.stdout!r}"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('backend = "fakeframe"\n[clauses]\nSEQ-INDEX = "broken"\n', "clauses.SEQ-INDEX"),
        ('backend = "fakeframe"\ndefault = "green"\n', "'default'"),
        ('default = "pass"\n', "'backend'"),
        ('backend = "fakeframe"\nclause = 3\n', "unknown key 'clause'"),
        ('backend = "fakeframe"\nclauses = [1]\n', "'clauses' must be a table"),
        ("backend = \n", "cannot be read"),
    ],
)
def test_a_bad_expected_file_is_a_usage_error_naming_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace(".", r"\.")):
        load_expected(path)


def test_the_command_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    result = _result(tmp_path, {})
    missing = run_cli(["expect", str(result), str(tmp_path / "none.toml")], tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr, f"observed {missing.returncode}"
    other = tmp_path / "other.toml"
    other.write_text('backend = "otherframe"\n', encoding="utf-8")
    wrong = run_cli(["expect", str(result), str(other)], tmp_path)
    assert wrong.returncode == 2 and "'otherframe'" in wrong.stderr, f"observed {wrong.returncode}: {wrong.stderr}"
    assert "Traceback" not in missing.stderr + wrong.stderr, "observed a traceback for bad input"


@pytest.mark.parametrize("name", ["flax", "keras", "tinygrad", "paddle"])
def test_ci_checks_each_framework_against_its_committed_expectations(name: str) -> None:
    """.ci/run gates on ``blockspec expect`` for each framework, and the file it names exists and is valid."""
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"conformance {name} " in script, f"observed no expected-status check of {name} in .ci/run"
    expected = load_expected(REPO_ROOT / ".ci" / "expected" / f"{name}.toml")
    assert expected.backend == name, f"observed backend {expected.backend!r} in .ci/expected/{name}.toml"
