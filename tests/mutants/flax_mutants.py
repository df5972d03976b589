"""Mutant Flax backends: each breaks one behaviour the way JAX code commonly does.

Importing this module raises ImportError where jax or flax is missing, so the
meta-test (tests/test_killmatrix.py) skips it there.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from conformance.backends import _kit as kit

# Imports jax and flax (ImportError when absent). jax itself is only reached through the
# adapter, which must be imported first: it sets XLA_FLAGS before jax starts.
from conformance.backends.flax import FlaxBackend, blocks  # isort: skip
from flax import nnx  # isort: skip  (after the adapter)


# --- 4.2 Parameter management ---------------------------------------------------------------------


class StateListsSharedOnce(FlaxBackend):
    """The state dict is ``nnx.state``'s: a shared layer's Variables appear once, at the first path."""

    target = "TIE-STATE-DICT-ALIASES"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        return [(path, variable.value) for path, variable in kit.first_paths(self._walk(module))]


def _copy_tie(owner: Any, user: Any) -> None:
    """``user.weight = owner.weight`` done with a new ``nnx.Param`` of equal value: two Variables."""
    source = getattr(owner, "kernel" if isinstance(owner, nnx.Linear) else "weight")
    setattr(user, "kernel" if isinstance(user, nnx.Linear) else "weight", nnx.Param(source.value))


class TieParamByCopy(FlaxBackend):
    """A parameter-level tie copies the owner's Param into the other layer: equal values, two Variables."""

    target = "TIE-PARAM-IDENTITY"
    tie = staticmethod(_copy_tie)


class _TorchReadingMyLinear(blocks.MyLinear):
    """A MyLinear that, when tied, reads the shared array in PyTorch's layout: ``X @ W.T`` instead of Flax's ``X @ W``."""

    tied = False

    def __call__(self, X: Any) -> Any:
        weight = self.weight.value.T if self.tied else self.weight.value
        return nnx.relu(X @ weight + self.bias.value)


def _torch_layout_tie(owner: Any, user: Any) -> None:
    source = getattr(owner, "kernel" if isinstance(owner, nnx.Linear) else "weight")
    setattr(user, "kernel" if isinstance(user, nnx.Linear) else "weight", source)
    if isinstance(user, _TorchReadingMyLinear):
        user.tied = True


class TieReadInTorchLayout(FlaxBackend):
    """A MyLinear holding a Linear's kernel reads it transposed (PyTorch's layout), not as Flax stores it."""

    target = "TIE-PARAM-GRAD-SUM"
    blocks = types.SimpleNamespace(
        **{
            **{name: getattr(blocks, name) for name in dir(blocks) if not name.startswith("_")},
            "MyLinear": _TorchReadingMyLinear,
        }
    )
    tie = staticmethod(_torch_layout_tie)


# --- 4.4 File I/O ---------------------------------------------------------------------------------


class SharedVariableLoad(FlaxBackend):
    """Loading sets the source's Variable on the model (``layer.kernel = other.kernel``), not its value: the two alias."""

    target = "LOAD-COPIES-VALUES"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        state = super().state_dict(module)
        origins = self.__dict__.setdefault("_origins", {})
        for (_, array), (_, variable) in zip(state, self._walk(module), strict=True):
            origins[id(array)] = (array, variable)  # the array kept alive, so its id stays unique
        return state

    def load_state_dict(self, module: Any, state: Any, *, strict: bool) -> Any:
        result = super().load_state_dict(module, state, strict=strict)
        origins = self.__dict__.get("_origins", {})
        for key, value in state.items():
            origin = origins.get(id(value))
            if origin is None:
                continue
            *parents, attribute = self._flax_path(module, key)
            holder = module
            for part in parents:
                holder = holder[part] if isinstance(part, int) else getattr(holder, part)
            if isinstance(getattr(holder, attribute, None), nnx.Variable):
                setattr(holder, attribute, origin[1])
        return result


# --- 4.5 GPUs (simulated accelerators) ------------------------------------------------------------


class SilentCrossDeviceCopy(FlaxBackend):
    """Adding arrays on two devices copies the second operand over instead of raising."""

    target = "DEV-MIXED-RAISES"

    def add(self, a: Any, b: Any) -> Any:
        return self._array(a) + self.to_device(b, self.device_of(a))


class UncommittedTensors(FlaxBackend):
    """Tensors made with ``jnp.asarray`` and no device: JAX leaves them uncommitted, so they follow the other operand."""

    target = "DEV-MIXED-RAISES"

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        import jax.numpy as jnp

        if device is not None:
            return super().tensor(array, device, dtype)
        host = np.asarray(array)
        return jnp.asarray(host if dtype is None else host.astype(jnp.dtype(dtype)))
