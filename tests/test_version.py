"""conformance._version: one version, the checkout's pyproject.toml, in every result file a run writes."""

from __future__ import annotations

import tomllib

from conformance._version import tool_version
from tests.helpers import REPO_ROOT


def test_the_version_is_the_checkouts_pyproject_version(seq_index_run: tuple[object, dict[str, object]]) -> None:
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert tool_version() == declared, f"observed version {tool_version()!r}; expected pyproject's {declared!r}"
    _, data = seq_index_run
    recorded = data["tool"]
    assert recorded == {"name": "blockspec", "version": declared}, f"observed tool {recorded}; expected {declared}"
