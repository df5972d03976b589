"""conformance.run.result: the result file's contents, its atomic writing, and its JSON Schema."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance._errors import ResultFileError
from conformance.run.result import ClauseResult, RunResult, write_json
from conformance.run.status import STATUSES
from tests.helpers import schema_errors
from tests.run.samples import run_result, sample_result

if TYPE_CHECKING:
    from pathlib import Path

    import jsonschema


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["MUST", "SHOULD", "MAY"]), st.sampled_from(STATUSES)), min_size=1, max_size=12
    )
)
def test_exit_code_is_one_iff_a_must_clause_does_not_pass(rows: list[tuple[str, str]]) -> None:
    clauses = [ClauseResult(f"C-{i}", "4.1", lvl, "t", "s", status) for i, (lvl, status) in enumerate(rows)]
    result = run_result(clauses)
    expected = int(any(lvl == "MUST" and status in ("fail", "error", "blocked") for lvl, status in rows))
    assert result.exit_code == expected, f"observed exit code {result.exit_code} for {rows}; expected {expected}"
    data = result.to_json()
    assert data["exit_code"] == expected, f"observed exit_code {data['exit_code']} in the JSON; expected {expected}"
    assert sum(data["summary"].values()) == len(rows), f"observed summary {data['summary']}; expected {len(rows)}"


# --- writing the result file --------------------------------------------------------------------------------


def test_write_json_round_trips(tmp_path: Path) -> None:
    result = sample_result()
    path = tmp_path / "r.json"
    write_json(result, path)
    assert json.loads(path.read_text(encoding="utf-8")) == result.to_json(), "observed a file unlike to_json()"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"], "observed stray files next to the result"


def _break_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunResult, "to_json", lambda self: {"unserializable": object()})


def _break_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(os, "fsync", fsync)


def _break_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    def replace(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error (simulated)")

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("breaker", [_break_dumps, _break_fsync, _break_replace], ids=["dumps", "fsync", "replace"])
def test_write_json_is_atomic(
    breaker: Callable[[pytest.MonkeyPatch], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    write_json(sample_result(), path)
    before = path.read_bytes()
    breaker(monkeypatch)
    with pytest.raises((OSError, TypeError, ResultFileError)):
        write_json(sample_result(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before, "observed the previous result file changed by a failed write"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["r.json"], f"observed {leftovers}; expected only r.json (no temporary file left)"


@pytest.mark.parametrize("breaker", [_break_fsync, _break_replace], ids=["fsync", "replace"])
def test_write_json_reports_os_errors_as_result_file_error(
    breaker: Callable[[pytest.MonkeyPatch], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker(monkeypatch)
    with pytest.raises(ResultFileError, match=r"r\.json"):
        write_json(sample_result(), tmp_path / "r.json")


def test_write_json_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="nodir"):
        write_json(sample_result(), tmp_path / "nodir" / "r.json")
    assert list(tmp_path.iterdir()) == [], f"observed {list(tmp_path.iterdir())}; expected nothing created"


# --- the JSON Schema ------------------------------------------------------------------------------------------


def test_every_status_validates(result_validator: jsonschema.protocols.Validator) -> None:
    clauses = [ClauseResult(f"STATUS-{i}", "4.2.3", "MUST", "t", "s", status) for i, status in enumerate(STATUSES)]
    document = sample_result().to_json()
    document["clauses"] += [json.loads(json.dumps(c.__dict__)) for c in clauses]
    errors = schema_errors(result_validator, json.loads(json.dumps(document)))
    assert not errors, f"observed schema errors {errors}; expected a valid document"


def _mutations() -> dict[str, Callable[[dict[str, Any]], None]]:
    def failing(doc: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in doc["clauses"] if c["failure"] is not None)

    return {
        "no status": lambda d: d["clauses"][0].pop("status"),
        "unknown status": lambda d: d["clauses"][0].update(status="passed"),
        "unknown level": lambda d: d["clauses"][0].update(level="MUSTNT"),
        "schema version 2": lambda d: d.update(schema_version=2),
        "no backend version": lambda d: d["backend"].pop("version"),
        "no device": lambda d: d.pop("device"),
        "no clause id": lambda d: d["clauses"][0].pop("id"),
        "failure without rerun": lambda d: failing(d)["failure"].pop("rerun"),
        "example not a list": lambda d: failing(d)["failure"].update(example="Draw 1: x"),
        "unknown top-level field": lambda d: d.update(verdict="ok"),
        "unknown test outcome": lambda d: failing(d)["tests"][0].update(outcome="fail"),
    }


@pytest.mark.parametrize("mutation", sorted(_mutations()))
def test_schema_rejects_malformed_documents(mutation: str, result_validator: jsonschema.protocols.Validator) -> None:
    document = json.loads(json.dumps(sample_result().to_json()))
    assert not schema_errors(result_validator, document), "the unmutated sample must validate"
    _mutations()[mutation](document)
    assert schema_errors(result_validator, document), (
        f"observed no schema error after '{mutation}'; expected the schema to reject"
    )
