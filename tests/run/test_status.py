"""conformance.run.status: the words of a verdict are the schema's, and only three statuses fail a run."""

from __future__ import annotations

import json

from conformance.run.status import FAILING, STATUSES, Outcome, Status
from tests.helpers import REPO_ROOT


def test_the_statuses_and_outcomes_are_the_schemas_words_in_order() -> None:
    schema = json.loads((REPO_ROOT / "conformance" / "result.schema.json").read_text(encoding="utf-8"))
    statuses, outcomes = schema["$defs"]["status"]["enum"], schema["$defs"]["test"]["properties"]["outcome"]["enum"]
    assert list(STATUSES) == statuses, f"observed {STATUSES}; expected the schema's status words {statuses}"
    observed = [o.value for o in Outcome]
    assert observed == outcomes, f"observed test outcomes {observed}; expected the schema's {outcomes}"


def test_only_fail_error_and_blocked_fail_a_run() -> None:
    assert {Status.FAIL, Status.ERROR, Status.BLOCKED} == FAILING, f"observed failing statuses {sorted(FAILING)}"
    assert all(Status(word) == word for word in STATUSES), "observed a status that is not its own word"
