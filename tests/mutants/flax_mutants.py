"""Mutant Flax backends: each breaks one behaviour the way JAX code commonly does.

Importing this module raises ImportError where jax or flax is missing, so the
meta-test (tests/test_mutants.py) skips it there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Imports jax and flax (ImportError when absent). jax itself is only reached through the
# adapter, which must be imported first: it sets XLA_FLAGS before jax starts.
from conformance.backends.flax import FlaxBackend


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


class StateListsSharedOnce(FlaxBackend):
    """The state dict is ``nnx.state``'s: a shared layer's Variables appear once, at the first path."""

    target = "TIE-STATE-DICT-ALIASES"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        seen: set[int] = set()
        state = []
        for path, owner, leaf, variable in self._walk(module):
            if id(variable) not in seen:
                seen.add(id(variable))
                state.append((path, self._view(owner, leaf, variable).array()))
        return state


class RankBlindLoad(FlaxBackend):
    """A state-dict array with the parameter's element count loads whatever its rank (reshaped: 0-d into (1,))."""

    target = "LOAD-SHAPE-RANK"

    def load_state_dict(self, module: Any, state: Any, *, strict: bool) -> Any:
        shapes = {key: tuple(np.shape(self._array(value))) for key, value in self.state_dict(module)}
        fitted = {}
        for key, value in state.items():
            shape = shapes.get(key)
            array = self._array(value)
            if shape is not None and tuple(np.shape(array)) != shape and int(np.size(array)) == int(np.prod(shape)):
                value = array.reshape(shape)
            fitted[key] = value
        return super().load_state_dict(module, fitted, strict=strict)


class RetypingLoad(FlaxBackend):
    """Loading writes each array in its own dtype: a float16 state dict retypes a float32 layer."""

    target = "LOAD-KEEPS-DTYPE"

    def _write(self, view: Any, value: np.ndarray) -> None:
        import jax
        import jax.numpy as jnp

        old = view.variable.value
        stored = value.T if view.transposed else value
        view.variable.value = jax.device_put(jnp.asarray(stored), old.sharding)


class SharedVariableLoad(FlaxBackend):
    """Loading sets the source's Variable on the model (``layer.kernel = other.kernel``), not its value: the two alias."""

    target = "LOAD-COPIES-VALUES"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        state = super().state_dict(module)
        origins = self.__dict__.setdefault("_origins", {})
        for (_, array), (_, owner, leaf, variable) in zip(state, self._walk(module), strict=True):
            origins[id(array)] = (array, owner, leaf, variable)  # the array kept alive, so its id stays unique
        return state

    def load_state_dict(self, module: Any, state: Any, *, strict: bool) -> Any:
        result = super().load_state_dict(module, state, strict=strict)
        origins = self.__dict__.get("_origins", {})
        for path, owner, leaf, _ in list(self._walk(module)):
            origin = origins.get(id(state.get(path)))
            if origin is not None and origin[2] == leaf and type(origin[1]) is type(owner):
                attribute = "kernel" if leaf == "weight" and hasattr(owner, "kernel") else leaf
                setattr(owner, attribute, origin[3])
        return result
