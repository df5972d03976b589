"""conformance._files: output paths are checked before a run writes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance._errors import ResultFileError
from conformance._files import check_writable


def test_check_writable_refuses_before_a_run(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(ResultFileError, match="does not exist"):
        check_writable(tmp_path / "nodir" / "r.json")
    check_writable(tmp_path / "r.json")  # a new file in an existing directory: fine
    assert list(tmp_path.iterdir()) == [], f"observed {list(tmp_path.iterdir())}; expected a check to write nothing"
