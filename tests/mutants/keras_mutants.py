"""Mutant Keras backends: each breaks one behaviour the way Keras code commonly does.

Importing this module raises ImportError where keras or torch is missing, so the
meta-test (tests/test_killmatrix.py) skips it there.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance._protocol import LoadResult

# Imports keras (ImportError when absent); the adapter must come first: it sets KERAS_BACKEND.
from conformance.backends.keras import KerasBackend, blocks
from tests.mutants import ties


def _chapter(**overrides: Any) -> types.SimpleNamespace:
    """The chapter's Keras blocks with some replaced."""
    names = {name: getattr(blocks, name) for name in dir(blocks) if not name.startswith("_")}
    return types.SimpleNamespace(**{**names, **overrides})


# --- 4.1 Layers and blocks ------------------------------------------------------------------------


class _TrainableFixedHiddenMLP(blocks.FixedHiddenMLP):
    """``add_weight`` without ``trainable=False``: Keras' default makes the constant a parameter."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rand_weight.trainable = True


class TrainableConstant(KerasBackend):
    """FixedHiddenMLP's constant is a trainable weight (add_weight's default), so it is a parameter."""

    target = "CONSTANT-NOT-PARAMETER"
    blocks = _chapter(FixedHiddenMLP=_TrainableFixedHiddenMLP)


# --- 4.2 Parameter management ---------------------------------------------------------------------


def _copied_tied_net() -> Any:
    import keras

    shared, copy = blocks.dense(8, 8), blocks.dense(8, 8)
    copy.set_weights(shared.get_weights())
    layers = [blocks.dense(4, 8), keras.layers.ReLU(), shared, keras.layers.ReLU(), copy, keras.layers.ReLU()]
    return keras.Sequential([*layers, blocks.dense(8, 1)])


class SharedLayerCopied(KerasBackend):
    """A layer used twice is rebuilt as an equal-valued copy at its second use, as a config round trip does."""

    target = "TIE-IDENTITY"
    reuse = staticmethod(ties.built_anew)
    blocks = _chapter(tied_net=_copied_tied_net)


class LoneDenseShownTransposed(KerasBackend):
    """A Dense's own state dict shows its kernel (out, in), PyTorch's layout, not the (in, out) Keras holds.

    The transposed view adapters used to give the suite (loads transpose it back): PARAM-LINEAR-STATE
    must see the layout the backend declares.
    """

    target = "PARAM-LINEAR-STATE"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        state = super().state_dict(module)
        if not isinstance(module, blocks.keras.layers.Dense):
            return state
        return [(key, value.T if key == "weight" else value) for key, value in state]

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        if isinstance(module, blocks.keras.layers.Dense) and getattr(state.get("weight"), "ndim", 0) == 2:
            state = {**state, "weight": state["weight"].T}
        return super().load_state_dict(module, state, strict=strict)


# --- 4.4 File I/O ---------------------------------------------------------------------------------


class CheckpointLoadSkipsLastLayer(KerasBackend):
    """``load_weights`` told to skip the last layer holding variables (its ``objects_to_skip``, meant for
    fine-tuning): the checkpoint loads without a word and that layer keeps its own values."""

    target = "IO-STATE-DICT-CLONE"

    def load_checkpoint(self, module: Any, path: Path) -> None:
        import keras

        owners = [view.owner for _, view in self._walk(module)]
        keras.saving.load_weights(module, path, objects_to_skip=owners[-1:])
