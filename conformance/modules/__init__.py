"""Check your own PyTorch module against the module contract (the ``MOD-*`` clauses).

>>> from conformance.modules import check_module  # doctest: +SKIP
>>> check_module(MyNet, input_shape=(4, 6))  # doctest: +SKIP

torch is imported only when a module is checked, never by importing this package.
"""

from __future__ import annotations

from conformance.modules._helper import ClauseResult, ModuleReport, check_module, evaluate
from conformance.modules._outcome import ClauseSkipped, not_applicable, skip
from conformance.modules._subject import ModuleSubject, load_subject
from conformance.modules._types import Inputs, InputShapeError, ModuleTargetError

__all__ = [
    "ClauseResult",
    "ClauseSkipped",
    "InputShapeError",
    "Inputs",
    "ModuleReport",
    "ModuleSubject",
    "ModuleTargetError",
    "check_module",
    "evaluate",
    "load_subject",
    "not_applicable",
    "skip",
]
