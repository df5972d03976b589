"""Every module of tests/modules by one index, and its statuses from ``blockspec check-module``.

The command needs names it can import: :func:`command_statuses` writes a file naming the module's
factory and inputs by their index in :data:`MODULES`, and runs the command on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import REPO_ROOT, run_cli
from tests.modules.broken import BROKEN
from tests.modules.correct import CASES
from tests.modules.real import REAL

#: Every module of tests/modules: correct, broken, and real ones (some need transformers or timm).
MODULES: tuple[Any, ...] = (*CASES, *BROKEN, *REAL)


def command_options(case: Any, inputs: str = "I") -> list[str]:
    """The module's input options on the command line (``--input-shape``, ``--inputs`` named ``inputs``)."""
    options = [f"--input-shape={','.join(map(str, s))}" for s in case.shapes]
    return [*options, "--inputs", inputs] if case.inputs is not None else options


def command_statuses(case: Any, where: Path, *options: str) -> tuple[int, dict[str, str]]:
    """``blockspec check-module`` on ``case`` with ``options``: its exit status and each clause's status."""
    index = next(i for i, m in enumerate(MODULES) if m is case)
    (where / "case.py").write_text(
        f"from tests.modules.catalog import MODULES\nfactory = MODULES[{index}].factory\n"
        f"inputs = MODULES[{index}].inputs\n",
        encoding="utf-8",
    )
    args = ["check-module", "case.py:factory", *options, "--json", "m.json", "--quiet"]
    args += command_options(case, "case.py:inputs")
    proc = run_cli(args, where, extra_path=[REPO_ROOT], timeout=900)
    result = where / "m.json"
    assert result.exists(), f"{case.name}: observed no result file (exit {proc.returncode}): {proc.stderr[-1500:]}"
    data = json.loads(result.read_text(encoding="utf-8"))
    return proc.returncode, {c["id"]: c["status"] for c in data["clauses"]}


def assert_the_command_agrees(case: Any, report: Any, where: Path, *options: str) -> None:
    """The command gives ``case`` the statuses ``check_module``'s ``report`` gives it, and the matching exit."""
    code, command = command_statuses(case, where, *options)
    in_process = report.statuses()
    differ = {c: (command.get(c), s) for c, s in in_process.items() if command.get(c) != s}
    assert not differ, (
        f"{case.name}: observed statuses (check-module, check_module()) that differ {differ}; expected the same"
    )
    expected = 1 if report.failing() else 0
    assert code == expected, f"{case.name}: observed check-module exit {code}; expected {expected} (the report's)"
