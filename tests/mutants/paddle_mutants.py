"""Mutant Paddle backends: each breaks one behaviour the way Paddle code commonly does.

Importing this module raises ImportError where paddle is missing, so the
meta-test (tests/test_killmatrix.py) finds no mutant here and skips it.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

from conformance._protocol import LoadResult

# Imports paddle (ImportError when absent).
from conformance.backends.paddle import PaddleBackend, blocks
from tests.mutants import ties


def _chapter(**overrides: Any) -> types.SimpleNamespace:
    """The chapter's Paddle blocks with some replaced."""
    names = {name: getattr(blocks, name) for name in dir(blocks) if not name.startswith("_")}
    return types.SimpleNamespace(**{**names, **overrides})


# --- 4.1 Layers and blocks ------------------------------------------------------------------------


class _AttributeFixedHiddenMLP(blocks.FixedHiddenMLP):
    """d2l-zh's Paddle code: the constant a plain tensor attribute, not a registered buffer."""

    def __init__(self) -> None:
        super().__init__()
        constant = self._buffers.pop("rand_weight")
        object.__setattr__(self, "rand_weight", constant)


class ConstantNotRegistered(PaddleBackend):
    """FixedHiddenMLP keeps its constant as a plain attribute: it is not in the state dict."""

    target = "CONSTANT-NOT-PARAMETER"
    blocks = _chapter(FixedHiddenMLP=_AttributeFixedHiddenMLP)


# --- 4.2 Parameter management ---------------------------------------------------------------------


class SharedLayerBuiltTwice(PaddleBackend):
    """A layer used twice is built anew at its second use: the tie becomes two layers with equal values."""

    target = "TIE-IDENTITY"
    reuse = staticmethod(ties.built_anew)


class StateDictWithoutAliases(PaddleBackend):
    """state_dict() keeps the first key of each tensor, the way a dict built from named_parameters() does."""

    target = "TIE-STATE-DICT-ALIASES"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        firsts = {id(value): key for key, value in reversed(module.state_dict().items())}
        return [(key, value) for key, value in super().state_dict(module) if key in firsts.values()]


# --- 4.4 File I/O ---------------------------------------------------------------------------------


class ReportFromWarnings(PaddleBackend):
    """A non-strict load reported from Paddle's "Skip loading" warnings: they name missing keys, never unexpected ones."""

    target = "LOAD-NONSTRICT-REPORTS"

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        result = super().load_state_dict(module, state, strict=strict)
        return LoadResult(result.missing, [])
