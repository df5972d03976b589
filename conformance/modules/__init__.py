"""Check your own PyTorch module against the module contract (the ``MOD-*`` clauses).

>>> from conformance.modules import check_module  # doctest: +SKIP
>>> check_module(MyNet, input_shape=(4, 6))  # doctest: +SKIP

``check_module`` runs the module-contract suite in this process through the same
pipeline as ``blockspec check-module`` (:mod:`conformance.modules._engine`).
torch is imported only when a module is checked, never by importing this package.
"""

from __future__ import annotations

from conformance.kit.outcomes import ClauseSkipped, not_applicable, skip
from conformance.modules._engine import MODULE, ModuleCheck, ModuleContractError, ModuleReport, check_module, evaluate
from conformance.modules._subject import ModuleSubject, load_subject, parse_shape
from conformance.modules._types import Inputs, InputShapeError, ModuleTargetError

__all__ = [
    "MODULE",
    "ClauseSkipped",
    "InputShapeError",
    "Inputs",
    "ModuleCheck",
    "ModuleContractError",
    "ModuleReport",
    "ModuleSubject",
    "ModuleTargetError",
    "check_module",
    "evaluate",
    "load_subject",
    "not_applicable",
    "parse_shape",
    "skip",
]
