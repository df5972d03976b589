"""conformance._text: whatever a backend's message holds, what blockspec writes is writable and obeys nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conformance._text import neutral, replace_surrogates

#: What a terminal obeys: C0 but tab and newline, DEL, C1, and the bidirectional overrides.
OBEYED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["\x1b[31mred\x1b[0m", "\udce9", "tab\tand\nnewline", "\u202eevil", "\x00\x7f\x9b"]
)
_JSON_LIKE = st.recursive(
    _TEXT | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)


def _surrogates(value: Any) -> int:
    if isinstance(value, str):
        return sum(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return sum(_surrogates(v) for v in value)
    if isinstance(value, dict):
        return sum(_surrogates(k) + _surrogates(v) for k, v in value.items())
    return 0


@given(value=_JSON_LIKE)
def test_any_value_becomes_writable_and_the_count_is_exact(value: Any) -> None:
    fixed, count = replace_surrogates(value)
    json.dumps(fixed).encode("utf-8")  # raises on a lone surrogate left behind
    assert count == _surrogates(value), f"observed {count} replaced; expected {_surrogates(value)} in {value!r}"
    if count == 0:
        assert fixed == value, f"observed {fixed!r}; expected {value!r} unchanged (nothing to replace)"


@given(text=_TEXT)
def test_no_character_a_terminal_obeys_survives_and_each_is_shown(text: str) -> None:
    shown = neutral(text)
    assert not OBEYED.search(shown), f"observed {shown!r}; expected no control character left"
    hidden = len(OBEYED.findall(text))
    pictures = len(re.findall(r"[\u2400-\u241f\u2421]|<U\+[0-9A-F]{4}>", shown)) - len(
        re.findall(r"[\u2400-\u241f\u2421]|<U\+[0-9A-F]{4}>", text)
    )
    assert pictures == hidden, f"observed {pictures} pictures for {hidden} control characters in {text!r}"
    assert neutral("tab\tand\nnewline") == "tab\tand\nnewline", "observed tab or newline changed; expected kept"


def test_an_ansi_escape_is_shown_as_its_picture() -> None:
    assert neutral("\x1b[31mred") == "\u241b[31mred", f"observed {neutral(chr(27) + '[31mred')!r}"
    assert neutral("\u202e") == "<U+202E>", f"observed {neutral(chr(0x202E))!r}; expected <U+202E>"
