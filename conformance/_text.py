"""Text from a backend, made safe to write: lone surrogates, and control characters on a terminal.

A result file, a report and a dashboard page must be written whatever the
messages they carry hold; :func:`replace_surrogates` makes any JSON-like value
writable and says how many characters it replaced, so the writer can say so;
:func:`neutral` shows the control characters of a message (ANSI escapes)
instead of letting a terminal obey them.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def replace_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD, and how many."""
    if isinstance(value, str):
        fixed, count = _SURROGATE.subn("\N{REPLACEMENT CHARACTER}", value)
        return fixed, count
    if isinstance(value, list):
        pairs = [replace_surrogates(item) for item in value]
        return [item for item, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        total = 0
        for key, item in value.items():
            new_key, n = replace_surrogates(key)
            out[new_key], m = replace_surrogates(item)
            total += n + m
        return out, total
    return value, 0


#: Control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides of "Trojan source".
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def neutral(text: str) -> str:
    """``text`` with no control character left, for a terminal: ANSI escapes are shown, never obeyed.

    A control character becomes its Unicode picture (ESC as ``␛``, NUL as
    ``␀``), or ``<U+XXXX>`` where it has none (the same pictures as the
    Markdown report's), so whoever reads the output sees that it was there.
    """
    return _CONTROL.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else f"<U+{code:04X}>"
