"""Expected statuses: tell a backend's honest, known verdict from a regression (``blockspec expect``).

A run exits 1 whenever a MUST clause does not pass, and a framework that
fails a clause no manifest can waive (IO-NO-CODE-EXECUTION) is never
conformant: its run is red on every commit. CI must still tell *that*
expected red from a new one, so each CI run's result file is compared
with a committed file of the statuses expected for that backend::

    # .ci/expected/flax.toml
    backend = "flax"
    default = "pass"          # every clause not listed below

    [clauses]
    IO-CONTAINER-ROUNDTRIP = "xfail"
    LAZY-INFERS-SHAPE = "not-applicable"

``blockspec expect RESULT EXPECTED`` exits 0 when every clause of the result
file has its expected status, 1 when any differs (each difference is printed:
a new failure, and equally a known failure that now passes, so the manifest
and the file are updated together), 2 for bad input.
``blockspec expect RESULT EXPECTED --write`` writes the file from a result
file whose verdicts were reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conformance._errors import UsageError
from conformance.report.loader import Run, load_result
from conformance.run.status import STATUSES
from spec._reading import load_toml_bounded

_KEYS = {"backend", "default", "clauses"}
_HEADER = """\
# Expected verdicts of `blockspec run --backend {backend}` in CI: `blockspec expect RESULT THIS-FILE`
# exits 1 when any clause's status differs. Written by `blockspec expect RESULT THIS-FILE --write`
# from a reviewed result file; change it in the commit that changes a verdict, and say why there.
"""


@dataclass(frozen=True)
class Expected:
    """The statuses a backend's CI run is expected to give: ``default`` for every clause not listed."""

    backend: str
    default: str
    clauses: dict[str, str]

    def of(self, clause_id: str) -> str:
        return self.clauses.get(clause_id, self.default)


def load_expected(path: Path) -> Expected:
    """Read an expected-status file; every problem in it is reported at once, as a usage error."""
    try:
        data = load_toml_bounded(path)
    except FileNotFoundError:
        raise UsageError(f"expected-status file {path} does not exist (write one with --write)") from None
    except RecursionError:
        raise UsageError(f"expected-status file {path} cannot be read: it nests too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError
        raise UsageError(f"expected-status file {path} cannot be read: {exc}") from None
    problems = [f"unknown key {key!r}; expected {sorted(_KEYS)}" for key in sorted(set(data) - _KEYS)]
    backend, default, clauses = data.get("backend"), data.get("default", "pass"), data.get("clauses", {})
    if not isinstance(backend, str) or not backend:
        problems.append(f"'backend' must name the backend, got {backend!r}")
    if default not in STATUSES:
        problems.append(f"'default' must be one of {list(STATUSES)}, got {default!r}")
    if not isinstance(clauses, dict):
        problems.append("'clauses' must be a table of clause id = status")
        clauses = {}
    for clause_id, status in clauses.items():
        if status not in STATUSES:
            problems.append(f"clauses.{clause_id}: expected one of {list(STATUSES)}, got {status!r}")
    if problems:
        raise UsageError(f"expected-status file {path} is invalid:\n  " + "\n  ".join(problems))
    return Expected(str(backend), str(default), {str(k): str(v) for k, v in clauses.items()})


def differences(run: Run, expected: Expected) -> list[str]:
    """Every clause whose status in ``run`` is not the expected one, as one line each."""
    lines = []
    for clause_id, verdict in run.verdicts.items():
        want = expected.of(clause_id)
        if verdict.status != want:
            why = f": {verdict.reason.splitlines()[0][:200]}" if verdict.reason.strip() else ""
            lines.append(f"{clause_id} [{verdict.level}]: expected {want}, got {verdict.status}{why}")
    for clause_id in expected.clauses.keys() - run.verdicts.keys():
        lines.append(f"{clause_id}: expected {expected.clauses[clause_id]}, but the result file has no verdict for it")
    return sorted(lines)


def render_expected(run: Run) -> str:
    """The expected-status file that ``run`` matches: the commonest status as the default, the rest listed."""
    counts: dict[str, int] = {}
    for verdict in run.verdicts.values():
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
    default = "pass" if counts.get("pass") else max(counts, key=lambda s: counts[s], default="pass")
    lines = [_HEADER.format(backend=run.backend), f'backend = "{_escaped(run.backend)}"', f'default = "{default}"']
    lines += ["", "[clauses]"]
    for cid, verdict in run.verdicts.items():
        if verdict.status != default:
            why = _comment(verdict.reason)
            lines.append(f'{cid} = "{verdict.status}"' + (f"  # {why}" if why else ""))
    return "\n".join(lines) + "\n"


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _comment(reason: str) -> str:
    """A reason's first line as a TOML comment: no control characters, at most 100 characters."""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    text = "".join(" " if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F else ch for ch in first).strip()
    return text if len(text) <= 100 else text[:99] + "…"


def expect_command(result_path: Path, expected_path: Path, *, write: bool) -> int:
    """``blockspec expect``: 0 when the result matches, 1 with the differences, 2 (UsageError) for bad input."""
    run = load_result(result_path)
    if write:
        from conformance._files import write_text_atomic

        write_text_atomic(expected_path, render_expected(run))
        print(f"expected statuses of {run.backend}: {expected_path} (review and commit it)")
        return 0
    expected = load_expected(expected_path)
    if expected.backend != run.backend:
        raise UsageError(
            f"expected-status file {expected_path} is for backend {expected.backend!r}, "
            f"but {result_path} checked {run.backend!r}"
        )
    found = differences(run, expected)
    if not found:
        counts = ", ".join(f"{n} {s}" for s, n in run.counts().items() if n)
        print(f"{run.backend}: every clause has its expected status ({counts}); {expected_path} holds")
        return 0
    print(f"{run.backend}: {len(found)} clause(s) differ from {expected_path}:")
    print("\n".join(f"  {line}" for line in found))
    print(
        "a new failure is a regression; a known failure that now passes (or any other change) is fixed by "
        "updating the manifest and this file in the same commit (blockspec expect RESULT FILE --write)"
    )
    return 1
