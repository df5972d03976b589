"""The result of a run: a verdict per clause, and the result file (JSON, versioned schema).

The stable minimum other tools rely on: top-level ``schema_version``,
``backend`` (``name``, ``version``), ``device`` and ``clauses``, one entry per
clause of the catalogue with at least ``id``, ``section``, ``level`` and
``status``. ``conformance/result.schema.json`` is the full JSON Schema. The
verdicts are computed in one place, :mod:`conformance.run.verdicts`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance._files import write_text_atomic
from conformance._text import replace_surrogates
from conformance.run.status import FAILING, STATUSES, Outcome, Status
from spec import Level

SCHEMA_VERSION = 1
#: The signals that end a run with a result file (conformance._interrupt.signals_as_exit), by their number.
SIGNALS = {"SIGHUP": 1, "SIGTERM": 15}


@dataclass
class TestOutcome:
    """What one test (one node id) did for its clause."""

    nodeid: str
    outcome: Outcome
    duration_s: float
    message: str = ""
    example: list[str] = field(default_factory=list)
    reproduce: str = ""

    def __post_init__(self) -> None:
        self.outcome = Outcome(self.outcome)  # from a journal line, the plain word

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


@dataclass
class ClauseResult:
    """The verdict of one clause on one backend and device."""

    id: str
    section: str
    level: str
    title: str
    statement: str
    status: Status
    reason: str = ""
    tests: list[TestOutcome] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    known_failure: dict[str, Any] | None = None  # the manifest entry: reason, link, unexpected_pass

    @property
    def message(self) -> str:
        """The whole account of the verdict, as text: for a failure its message, the labelled example
        and the command that reruns it (a blocked clause's reason first); else the reason."""
        if self.failure is None:
            return self.reason
        parts = [self.reason] if self.status == Status.BLOCKED else []
        parts += [self.failure["message"], *self.failure.get("example", [])]
        if self.failure.get("rerun"):
            parts.append(f"rerun: {self.failure['rerun']}")
        return "\n".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = Status(self.status).value
        data["tests"] = [t.to_json() for t in self.tests]
        return data


@dataclass
class RunResult:
    """A whole run: backend, device, environment and a verdict per clause."""

    backend: dict[str, str]
    device: str
    profile: str
    clauses: list[ClauseResult]
    started: str
    duration_s: float
    environment: dict[str, str] = field(default_factory=dict)
    tool: dict[str, str] = field(default_factory=dict)
    incomplete: str = ""  # why the run stopped before every selected test ran (an interrupt), else empty
    signal: str = ""  # the signal that ended the run (SIGTERM, SIGHUP), else empty: the process exits 128 + it

    def __post_init__(self) -> None:
        if self.signal and self.signal not in SIGNALS:
            raise ValueError(f"Expected signal to be one of {list(SIGNALS)} or empty but got signal={self.signal!r}")

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for clause in self.clauses:
            counts[Status(clause.status).value] += 1
        return counts

    def failing_must(self) -> list[ClauseResult]:
        return [c for c in self.clauses if c.level == Level.MUST.value and c.status in FAILING]

    @property
    def exit_code(self) -> int:
        """0 when every applicable, selected MUST clause passed or is xfail (the verdict line names those);
        128 + the signal for a run a signal ended (143 for SIGTERM: what the process exits with);
        130 for an interrupted run; 1 otherwise."""
        if self.signal:
            return 128 + SIGNALS[self.signal]
        if self.incomplete:
            return 130
        return 1 if self.failing_must() else 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": self.tool,
            "backend": self.backend,
            "device": self.device,
            "profile": self.profile,
            "started": self.started,
            "duration_s": round(self.duration_s, 3),
            "environment": self.environment,
            "summary": self.counts(),
            "exit_code": self.exit_code,
            "clauses": [c.to_json() for c in self.clauses],
        }
        if self.incomplete:
            data["incomplete"] = self.incomplete
        if self.signal:
            data["signal"] = self.signal
        return data


def write_json(result: RunResult, path: Path) -> None:
    """Write the result file atomically (see :func:`conformance._files.write_text_atomic`).

    Text that UTF-8 cannot hold (a lone surrogate, e.g. from a non-UTF-8 file name in an
    exception message) is replaced by U+FFFD, and ``environment.blockspec_text_replaced`` says so.
    """
    data, replaced = replace_surrogates(result.to_json())
    if replaced:
        data.setdefault("environment", {})["blockspec_text_replaced"] = (
            f"{replaced} character(s) UTF-8 cannot encode (lone surrogates) replaced by U+FFFD"
        )
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
