"""How a test says "this clause does not apply" or "cannot be checked here": both suites use it.

A framework test, a module-contract check and the run session itself (a capability the subject does not
declare) all end a clause this way. Both are carried as data on one exception, :class:`ClauseSkipped`, which is a
``pytest.skip.Exception`` so that pytest and hypothesis treat it as a skip
(hypothesis re-raises skip exceptions at once, without shrinking). A run
session reads ``kind`` (``"skipped"`` or ``"not-applicable"``) and ``reason``
from the exception (``call.excinfo.value``); the message says the kind too.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import pytest

Kind = Literal["skipped", "not-applicable"]

_PREFIX: dict[str, str] = {"skipped": "skipped: ", "not-applicable": "not-applicable: "}


class ClauseSkipped(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A clause was not checked: ``kind`` says why in one word, ``reason`` in a sentence."""

    def __init__(self, kind: Kind, reason: str) -> None:
        self.kind: Kind = kind
        self.reason = reason
        super().__init__(msg=_PREFIX[kind] + reason, pytrace=False)


def skip(reason: str) -> NoReturn:
    """The clause applies but cannot be checked here (no accelerator, a forward meta cannot run): ``skipped``."""
    __tracebackhide__ = True
    raise ClauseSkipped("skipped", reason)


def not_applicable(reason: str) -> NoReturn:
    """The clause has nothing to check on this subject (a capability it lacks, no tied parameters): ``not-applicable``."""
    __tracebackhide__ = True
    raise ClauseSkipped("not-applicable", reason)
