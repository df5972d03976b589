"""Known-failure manifests: validation, xfail and unexpected-pass verdicts, no shrinking of known failures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conformance._errors import UsageError
from conformance._manifest import load_manifest
from spec import load_catalogue
from tests.helpers import ADAPTERS_DIR, pytester_output, schema_errors

if TYPE_CHECKING:
    import jsonschema

CATALOGUE = load_catalogue()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_manifest_loads(tmp_path: Path) -> None:
    path = write(tmp_path, '[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "off by one"\nlink = "https://x/1"\n')
    entries = load_manifest(path, CATALOGUE)
    assert list(entries) == ["SEQ-INDEX"], f"observed {list(entries)}; expected ['SEQ-INDEX']"
    assert entries["SEQ-INDEX"].describe() == "known failure: off by one (https://x/1)", (
        f"observed {entries['SEQ-INDEX'].describe()!r}"
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[known_failure]]\nclause = "NO-SUCH-CLAUSE"\nreason = "r"\n', "entry 1 (NO-SUCH-CLAUSE): field 'clause'"),
        ('[[known_failure]]\nreason = "r"\n', "entry 1: field 'clause' is missing"),
        ('[[known_failure]]\nclause = "SEQ-INDEX"\n', "field 'reason' is missing"),
        ('[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "r"\ncolour = "red"\n', "unknown field(s) colour"),
        (
            '[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "r"\n[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "s"\n',
            "entry 2 (SEQ-INDEX): clause listed twice",
        ),
        ("[[known_failure]\n", "cannot be read"),
        ('[failures]\nclause = "SEQ-INDEX"\n', "unknown top-level key(s) failures"),
    ],
    ids=["unknown-clause", "no-clause", "no-reason", "unknown-field", "duplicate", "bad-toml", "wrong-table"],
)
def test_a_bad_manifest_is_a_usage_error_naming_entry_and_field(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_manifest(path, CATALOGUE)
    message = str(caught.value)
    assert words in message and str(path) in message, f"observed {message!r}; expected {words!r} and the file named"


def test_a_missing_manifest_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_manifest(tmp_path / "nope.toml", CATALOGUE)


KNOWN_TESTS = """
import pytest
from hypothesis import given, strategies as st

@pytest.mark.clause("SEQ-INDEX")
@given(x=st.integers(0, 10**6))
def test_fails_from_1000(x):
    assert x < 1000, f"[SEQ-INDEX] minimal-fake on cpu: x: observed {x}; expected < 1000"

@pytest.mark.clause("SEQ-ORDER")
def test_passes():
    pass
"""

MANIFEST = '[[known_failure]]\nclause = "SEQ-INDEX"\nreason = "big x"\n[[known_failure]]\nclause = "SEQ-ORDER"\nreason = "thought broken"\n'


def _adapters_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake adapters importable in the child, before whatever PYTHONPATH already names (a checkout's code)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ADAPTERS_DIR), os.environ.get("PYTHONPATH")])))


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, dict[str, object]]:
    pytester.makepyfile(test_known=KNOWN_TESTS)
    _adapters_on_path(monkeypatch)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--blockspec-backend",
        "fake_adapters:MinimalBackend",
        "--blockspec-json",
        "r.json",
        *extra,
    )
    assert (pytester.path / "r.json").exists(), f"observed no result file{pytester_output(result)}"
    data = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    return {c["id"]: c for c in data["clauses"]}


def test_listed_failures_are_xfail_unshrunk_and_listed_passes_are_flagged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "known.toml").write_text(MANIFEST, encoding="utf-8")
    by_id = _run(pytester, monkeypatch, "--blockspec-known-failures", "known.toml")
    failing, passing = by_id["SEQ-INDEX"], by_id["SEQ-ORDER"]
    assert failing["status"] == "xfail", f"observed {failing['status']}; expected xfail"
    assert failing["reason"] == "known failure: big x", f"observed reason {failing['reason']!r}"
    example = " ".join(failing["failure"]["example"])  # type: ignore[index]
    assert "x=1000" not in example and "x=" in example, (
        f"observed example {example!r}; expected an unshrunk one (shrinking would reach x=1000)"
    )
    assert passing["status"] == "pass", f"observed {passing['status']}; expected pass"
    entry = {"reason": "thought broken", "link": "", "unexpected_pass": True, "stale": False, "waived": True}
    assert passing["known_failure"] == entry, (
        f"observed {passing['known_failure']}; expected the entry flagged as an unexpected pass"
    )


def test_without_the_manifest_the_same_failure_is_shrunk_and_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: the example check can fail, because shrinking does reach x=1000."""
    by_id = _run(pytester, monkeypatch)
    failing = by_id["SEQ-INDEX"]
    assert failing["status"] == "fail", f"observed {failing['status']}; expected fail"
    example = " ".join(failing["failure"]["example"])  # type: ignore[index]
    assert "x=1000" in example, f"observed example {example!r}; expected the shrunk x=1000"
    assert by_id["SEQ-ORDER"]["known_failure"] is None, "observed a manifest entry without a manifest"


UNWAIVABLE_TESTS = """
import pytest

@pytest.mark.clause("IO-NO-CODE-EXECUTION")
def test_load_runs_code():
    assert False, "[IO-NO-CODE-EXECUTION] fake on cpu: the marker file: observed present; expected absent"

@pytest.mark.clause("SEQ-INDEX")
def test_off_by_one():
    assert False, "[SEQ-INDEX] fake on cpu: net[1]: observed net[2]; expected net[1]"

@pytest.mark.clause("LAZY-INFERS-SHAPE")
def test_lazy():
    pass
"""

UNWAIVABLE_MANIFEST = "".join(
    f'[[known_failure]]\nclause = "{cid}"\nreason = "known"\n'
    for cid in ("IO-NO-CODE-EXECUTION", "SEQ-INDEX", "LAZY-INFERS-SHAPE")
)


def test_a_manifest_cannot_waive_a_security_clause_and_its_stale_entries_are_flagged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, result_validator: jsonschema.protocols.Validator
) -> None:
    """Through the plugin: IO-NO-CODE-EXECUTION stays fail (exit 1), SEQ-INDEX is xfail, an n/a entry is stale."""
    pytester.makepyfile(test_unwaivable=UNWAIVABLE_TESTS)
    (pytester.path / "known.toml").write_text(UNWAIVABLE_MANIFEST, encoding="utf-8")
    _adapters_on_path(monkeypatch)
    args = ["-p", "no:cacheprovider", "--blockspec-backend", "fake_adapters:FileBackend", "--blockspec-json", "r.json"]
    result = pytester.runpytest_subprocess(*args, "--blockspec-known-failures", "known.toml")
    assert (pytester.path / "r.json").exists(), f"observed no result file{pytester_output(result)}"
    data = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in data["clauses"]}
    security, ordinary, lazy = by_id["IO-NO-CODE-EXECUTION"], by_id["SEQ-INDEX"], by_id["LAZY-INFERS-SHAPE"]
    assert security["status"] == "fail", f"observed {security['status']}; expected fail (not waivable)"
    assert "not waivable" in security["reason"], f"observed reason {security['reason']!r}; expected it to say why"
    assert "the marker file: observed present" in security["reason"], (
        f"observed reason {security['reason']!r}; expected it to end with what failed"
    )
    assert security["known_failure"]["waived"] is False, f"observed {security['known_failure']}"
    outcomes = [t["outcome"] for t in security["tests"]]
    assert outcomes == ["failed"], f"observed test outcomes {outcomes}; expected failed, never xfail (progress says so)"
    assert ordinary["status"] == "xfail", f"observed SEQ-INDEX {ordinary['status']}; expected xfail (the control)"
    assert lazy["status"] == "not-applicable" and lazy["known_failure"]["stale"] is True, f"observed {lazy}"
    assert data["exit_code"] == 1, f"observed exit_code {data['exit_code']}; expected 1 (a MUST clause fails)"
    errors = schema_errors(result_validator, data)
    assert not errors, f"observed a result file the schema refuses: {errors[:5]}"
