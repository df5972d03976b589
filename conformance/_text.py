"""Text that no encoding can write: lone surrogates (a non-UTF-8 file name in an exception, say).

A result file, a report and a dashboard page must be written whatever the
messages they carry hold; :func:`replace_surrogates` makes any JSON-like value
writable and says how many characters it replaced, so the writer can say so.
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
