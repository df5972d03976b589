"""conformance.report.merge: runs from many files become one column per backend, device and version."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.report import DuplicateRunError, load_results, merge_runs
from tests.helpers import result_document, write_result


def test_same_backend_device_version_with_equal_start_is_an_error(tmp_path: Path) -> None:
    a = write_result(tmp_path / "a.json", result_document())
    b = write_result(tmp_path / "b.json", result_document())
    with pytest.raises(DuplicateRunError) as caught:
        merge_runs(load_results([a, b]))
    message = str(caught.value)
    assert "a.json" in message and "b.json" in message, f"observed {message!r}; expected both files named"


def test_newer_run_of_the_same_column_wins(tmp_path: Path) -> None:
    old = write_result(tmp_path / "old.json", result_document(started="2026-01-01T10:00:00+00:00"))
    new = write_result(
        tmp_path / "new.json", result_document(started="2026-01-02T10:00:00+00:00", statuses={"SEQ-INDEX": "fail"})
    )
    for order in ([old, new], [new, old]):
        merged = merge_runs(load_results(order))
        assert [r.source.name for r in merged.columns] == ["new.json"], (
            f"observed columns {merged.columns}; expected new.json only"
        )
        assert [s.older.source.name for s in merged.superseded] == ["old.json"], f"observed {merged.superseded}"
        history = merged.history[("fakeframe", "cpu")]
        assert [r.source.name for r in history] == ["old.json", "new.json"], (
            f"observed history {history}; expected oldest first"
        )


def test_start_times_compare_across_time_zones(tmp_path: Path) -> None:
    utc = write_result(tmp_path / "utc.json", result_document(started="2026-01-01T10:00:00+00:00"))
    paris = write_result(tmp_path / "paris.json", result_document(started="2026-01-01T10:30:00+01:00"))
    merged = merge_runs(load_results([utc, paris]))
    assert merged.columns[0].source.name == "utc.json", (
        "observed 10:30+01:00 taken as newer than 10:00Z; expected UTC comparison"
    )


def test_runs_from_many_machines_merge_into_sorted_columns(tmp_path: Path) -> None:
    docs = [
        result_document("torch", "2.10", "cpu"),
        result_document("torch", "2.9", "cpu"),
        result_document("reference", "0.1", "sim:0"),
        result_document("torch", "2.9", "cuda:0"),
    ]
    paths = [write_result(tmp_path / f"{i}.json", d) for i, d in enumerate(docs)]
    merged = merge_runs(load_results([tmp_path]))
    keys = [r.key for r in merged.columns]
    expected = [
        ("reference", "sim:0", "0.1"),
        ("torch", "cpu", "2.9"),
        ("torch", "cpu", "2.10"),
        ("torch", "cuda:0", "2.9"),
    ]
    assert keys == expected, f"observed columns {keys}; expected {expected}"
    assert len(paths) == len(merged.columns), "observed runs lost in the merge"
    assert list(merged.trends) == [("torch", "cpu")], (
        f"observed trends for {list(merged.trends)}; expected torch/cpu only"
    )


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    path = write_result(tmp_path / "r.json", result_document())
    runs = load_results([path, tmp_path / "." / "r.json"])
    assert len(runs) == 1, f"observed {len(runs)} runs; expected one"
