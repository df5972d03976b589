"""The child's side of an isolated run: the journal, one JSON line per event, flushed as it goes.

The session (``conformance.run.session``) hands every event to the
journal; the parent (``conformance.run.isolate``) reads the lines back and
applies them to its own ledger. A line reaches the kernel before the next
test starts, so a child that dies leaves every earlier event behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


class Journal:
    """A sink writing each event as one JSON line to ``path``."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("a", encoding="utf-8", errors="backslashreplace")

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(event) + "\n")
        self.handle.flush()  # into the kernel: it survives the process dying
        if event["event"] == "end":
            self.handle.close()

    @staticmethod
    def refuse(path: Path, message: str) -> None:
        """Record that the child could not start the run (a usage error the parent reports as such)."""
        with path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(json.dumps({"event": "refused", "message": message}) + "\n")


#: The fields of each kind of event and the type each must have (a journal line is data, never trusted).
_STR, _INT, _NUM, _OPT_DICT = "str", "int", "number", "object or null"
_FIELDS: dict[str, dict[str, str]] = {
    "begin": {"subject": "object", "capabilities": "list of str", "known": "object", "device": _STR},
    "collected": {"all": "object of str", "selected": "list of str", "errors": "list of str"},
    "deselected": {"tests": "object of str"},
    "start": {"nodeid": _STR, "clause": _STR},
    "finish": {"nodeid": _STR, "clause": _STR, "outcome": _OPT_DICT},
    "end": {
        "environment": "object",
        "exitstatus": "int or null",
        "interrupted": _STR,
        "stopped": _STR,
        "worker": _STR,
    },
    "refused": {"message": _STR},
}
_OPTIONAL = {"begin": {"device"}, "collected": {"errors"}, "end": {"exitstatus", "interrupted", "stopped", "worker"}}
_OUTCOME_FIELDS = {
    "nodeid": _STR,
    "outcome": _STR,
    "duration_s": _NUM,
    "message": _STR,
    "example": "list of str",
    "reproduce": _STR,
}


def _is(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int or null":
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if kind == "list of str":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "object of str":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == _OPT_DICT:
        return value is None or isinstance(value, dict)
    return isinstance(value, dict)  # "object"


def parse_event(line: str) -> tuple[dict[str, Any] | None, str]:
    """One journal line as ``(event, "")``, or ``(what could be read of it, what is wrong)``.

    A backend runs in the process that writes the journal and can write into it too; every field
    is checked for its type here, so a garbled line becomes a reported problem, never a crash.
    """
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, f"not a JSON document ({type(exc).__name__})"
    if not isinstance(event, dict):
        return None, "not a JSON object"
    kind = event.get("event")
    fields = _FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return event, f"unknown event {str(kind)[:40]!r}"
    optional = _OPTIONAL.get(str(kind), set())
    extra = sorted(set(event) - set(fields) - {"event"})
    if extra:
        return event, f"unexpected field(s) {', '.join(repr(k[:40]) for k in extra[:5])} in a {kind!r} event"
    for name, type_ in fields.items():
        if name not in event:
            if name in optional:
                continue
            return event, f"{kind!r} event without {name!r}"
        if not _is(event[name], type_):
            return event, f"{kind!r} event whose {name!r} is not a {type_}"
    outcome = event.get("outcome")
    if kind == "finish" and outcome is not None:
        from conformance.run.status import Outcome

        wrong = sorted(set(outcome) ^ set(_OUTCOME_FIELDS))
        if wrong:
            return (
                event,
                f"a test outcome with unexpected or missing field(s) {', '.join(repr(k[:40]) for k in wrong[:5])}",
            )
        bad = [name for name, type_ in _OUTCOME_FIELDS.items() if not _is(outcome[name], type_)]
        if bad:
            return event, f"a test outcome whose {bad[0]!r} is not a {_OUTCOME_FIELDS[bad[0]]}"
        if outcome["outcome"] not in {o.value for o in Outcome}:
            return event, f"a test outcome {outcome['outcome'][:40]!r} that is none of blockspec's"
        if outcome["nodeid"] != event["nodeid"]:
            return event, "a test outcome for another test than its event names"
    return event, ""
