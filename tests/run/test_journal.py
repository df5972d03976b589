"""conformance.run.journal: the child's journal is data the parent checks, line by line, and never trusts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.run.journal import Journal, parse_event

GOOD_OUTCOME = {"nodeid": "t::a", "outcome": "passed", "duration_s": 0.1, "message": "", "example": [], "reproduce": ""}

#: One well-formed line of each kind the session writes (conformance/run/verdicts.py lists them).
WELL_FORMED: dict[str, dict[str, Any]] = {
    "begin": {"event": "begin", "subject": {"name": "n", "version": "1"}, "capabilities": ["a"], "known": {}},
    "collected": {"event": "collected", "all": {"t::a": "C"}, "selected": ["t::a"], "errors": []},
    "deselected": {"event": "deselected", "tests": {"t::b": "not selected"}},
    "start": {"event": "start", "nodeid": "t::a", "clause": "C"},
    "finish": {"event": "finish", "nodeid": "t::a", "clause": "C", "outcome": GOOD_OUTCOME},
    "finish without outcome": {"event": "finish", "nodeid": "t::a", "clause": "C", "outcome": None},
    "end": {"event": "end", "environment": {}, "exitstatus": 0, "interrupted": "", "stopped": "", "worker": ""},
    "refused": {"event": "refused", "message": "no such backend"},
}


def test_every_kind_of_well_formed_event_is_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    for event in WELL_FORMED.values():
        if event["event"] != "end":
            journal(event)
    journal(WELL_FORMED["end"])  # the last event closes the file
    assert journal.handle.closed, "observed the journal still open after 'end'; expected it closed"
    lines = path.read_text(encoding="utf-8").splitlines()
    read = [parse_event(line) for line in lines]
    problems = [problem for _, problem in read if problem]
    assert not problems, f"observed well-formed events refused: {problems}"
    written = [e for e in WELL_FORMED.values() if e["event"] != "end"] + [WELL_FORMED["end"]]
    assert [event for event, _ in read] == written, f"observed {read}; expected the events as written"


def test_a_refusal_is_recorded_as_an_event_the_parent_reads(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal.refuse(path, "backend 'x' could not be loaded: \udce9 odd text")
    event, problem = parse_event(path.read_text(encoding="utf-8").strip())
    assert not problem and event is not None and event["event"] == "refused", f"observed {event}, {problem!r}"
    assert "could not be loaded" in event["message"], f"observed {event['message']!r}; expected the message kept"


def test_every_kind_of_malformed_journal_line_is_reported_never_raised() -> None:
    lines = {
        "not json": "{nope",
        "not an object": "[1]",
        "unknown event": '{"event": "explode"}',
        "extra field": json.dumps({"event": "start", "nodeid": "t::a", "clause": "C", "x": 1}),
        "missing field": json.dumps({"event": "start", "nodeid": "t::a"}),
        "wrong type": json.dumps({"event": "start", "nodeid": 3, "clause": "C"}),
        "bool as a number": json.dumps({**WELL_FORMED["end"], "exitstatus": True}),
        "outcome extra field": json.dumps(
            {"event": "finish", "nodeid": "t::a", "clause": "C", "outcome": {**GOOD_OUTCOME, "forged": 1}}
        ),
        "outcome unknown word": json.dumps(
            {"event": "finish", "nodeid": "t::a", "clause": "C", "outcome": {**GOOD_OUTCOME, "outcome": "great"}}
        ),
        "outcome of another test": json.dumps(
            {"event": "finish", "nodeid": "t::b", "clause": "C", "outcome": GOOD_OUTCOME}
        ),
        "nested too deep": "[" * 100_000 + "]" * 100_000,
    }
    for case, line in lines.items():
        _, problem = parse_event(line)
        assert problem, f"{case}: observed {line[:80]!r} accepted; expected it reported as malformed"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from([*sorted({e["event"] for e in WELL_FORMED.values()}), "other"]).map(str),
    field=st.sampled_from(["nodeid", "clause", "outcome", "environment", "exitstatus", "subject", "message", "x"]),
    value=_JSON,
    base=st.sampled_from(list(WELL_FORMED)),
)
def test_any_change_to_a_line_is_read_or_reported_never_raised(kind: str, field: str, value: Any, base: str) -> None:
    event = {**WELL_FORMED[base], field: value}
    if kind != "other":
        event["event"] = kind
    parsed, problem = parse_event(json.dumps(event))
    assert isinstance(problem, str), f"observed problem {problem!r}; expected text"
    if not problem:  # accepted: then every field the parent reads has its type
        assert parsed is not None and parsed["event"] in {e["event"] for e in WELL_FORMED.values()}, (
            f"observed {parsed} accepted; expected one of the session's events"
        )
