"""The words of a verdict: a clause's status, and what one test did for its clause.

Both are string enums, so they are written to and read from result files
and journals as the plain words of the schema (``"pass"``, ``"failed"``).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """The verdict of one clause on one backend (or module) and device."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NOT_APPLICABLE = "not-applicable"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    XFAIL = "xfail"
    PENDING = "pending"  # kept for result files of older versions; a run now reports an unrun clause as error


class Outcome(StrEnum):
    """What one test (one pytest node id) did for its clause."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    XFAIL = "xfail"
    XPASSED = "xpassed"
    NOT_APPLICABLE = "not-applicable"
    SKIPPED = "skipped"


#: Every status, in the order summaries and reports list them.
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)

#: Statuses that fail a run when a MUST clause has them.
FAILING = frozenset({Status.FAIL, Status.ERROR, Status.BLOCKED})
