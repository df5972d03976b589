"""Mutant tinygrad backends: each breaks one behaviour the way tinygrad code commonly does.

Importing this module raises ImportError where tinygrad is missing, so the
meta-test (tests/test_killmatrix.py) skips it there. tinygrad compiles a kernel
per new shape, so these run only with ``BLOCKSPEC_SLOW_MUTANTS=1``.
"""

from __future__ import annotations

from typing import Any

from conformance.backends.tinygrad import TinygradBackend  # imports tinygrad (ImportError when absent)
from conformance.backends.tinygrad._adapter import _guard

# --- 4.2 Parameter management ---------------------------------------------------------------------


class ParamsPerPath(TinygradBackend):
    """``named_parameters`` is ``get_state_dict`` as it is: a tied tensor under every path."""

    target = "TIE-PARAMS-ONCE"

    @_guard
    def named_parameters(self, module: Any) -> list[tuple[str, Any]]:
        return [(name, t) for name, t in self.state_dict(module) if t.is_param]


def _copy_tie(owner: Any, user: Any) -> None:
    user.weight = owner.weight.clone().realize()


class TieParamByCopy(TinygradBackend):
    """``b.weight = a.weight`` done as ``b.weight = a.weight.clone()``: equal values, two tensors."""

    target = "TIE-PARAM-IDENTITY"

    tie = staticmethod(_copy_tie)


# --- 4.5 GPUs (simulated accelerators) ------------------------------------------------------------


class LazyAdd(TinygradBackend):
    """``a + b`` returned unrealized: tinygrad only notices two devices when the graph runs, later."""

    target = "DEV-MIXED-RAISES"

    @_guard
    def add(self, a: Any, b: Any) -> Any:
        return a + b
