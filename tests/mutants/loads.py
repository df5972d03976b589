"""Load, save and dtype-conversion mutants written once for every PyTorch-shaped backend (torch, the reference).

Each class breaks one behaviour of ``load_state_dict`` through the
TorchLikeBackend API alone, the way a real framework's loader does (tinygrad
0.14 shows all three). A mutant module binds it to a backend by subclassing it
together with that backend (``class X(loads.X, TorchBackend)``); this module
is not a ``*_mutants.py`` module and holds no mutant of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance._protocol import LoadRejected, LoadResult
from conformance.backends._torchlike import TorchLikeBackend


def _own(module: Any) -> dict[str, Any]:
    return dict(module.state_dict())


def _shape(value: Any) -> tuple[int, ...] | None:
    """A materialized tensor's shape; None for an uninitialized (lazy) parameter, which has none yet."""
    try:
        return tuple(value.shape)
    except Exception:
        return None


class RankBlindLoad(TorchLikeBackend):
    """A tensor with the parameter's element count loads whatever its rank (reshaped: 0-d into (1,))."""

    target = "LOAD-SHAPE-RANK"

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        shapes = {name: _shape(value) for name, value in _own(module).items()}
        fitted = {}
        for key, value in state.items():
            shape = shapes.get(key)
            if shape is not None and tuple(value.shape) != shape and value.numel() == int(np.prod(shape)):
                value = value.reshape(shape)
            fitted[key] = value
        return super().load_state_dict(module, fitted, strict=strict)


class SharedBufferLoad(TorchLikeBackend):
    """Loading makes each parameter share the source tensor's buffer instead of copying into its own."""

    target = "LOAD-COPIES-VALUES"

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        result = super().load_state_dict(module, state, strict=strict)
        for name, param in module.named_parameters():
            value = state.get(name)
            if value is not None and value.dtype == param.dtype and tuple(value.shape) == tuple(param.shape):
                param.data = value
        return result


class RetypingLoad(TorchLikeBackend):
    """Loading a tensor of another float dtype retypes the parameter to it (tinygrad 0.14's load)."""

    target = "LOAD-KEEPS-DTYPE"

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        result = super().load_state_dict(module, state, strict=strict)
        for name, param in module.named_parameters():
            value = state.get(name)
            if value is not None and value.dtype != param.dtype:
                param.data = value.clone()
        return result


class RefusesOtherDtype(TorchLikeBackend):
    """Loading refuses a state dict of another float dtype (conforming, but not the SHOULD's cast)."""

    target = "LOAD-CASTS-DTYPE"

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        own = _own(module)
        for key, value in state.items():
            if key in own and value.dtype != own[key].dtype:
                raise LoadRejected(f"state_dict[{key!r}] has dtype {value.dtype}; the module holds {own[key].dtype}")
        return super().load_state_dict(module, state, strict=strict)


class ConversionUntiesModules(TorchLikeBackend):
    """module.to(dtype) converts a module registered twice into a copy at its later places (ties lost)."""

    target = "TIE-DTYPE-CONVERSION"

    def module_to_dtype(self, module: Any, dtype: str) -> Any:
        import copy

        for parent in list(module.modules()):
            seen: set[int] = set()
            for name, child in list(parent._modules.items()):
                if child is not None and id(child) in seen:
                    parent._modules[name] = copy.deepcopy(child)
                elif child is not None:
                    seen.add(id(child))
        return super().module_to_dtype(module, dtype)


class FlattensContainers(TorchLikeBackend):
    """save() stores a tuple as a list and an int key as its string (a JSON-minded format, silently).

    No target of its own: ``torch_mutants`` aims it at IO-CONTAINER-ROUNDTRIP, ``reference_mutants``
    (declaring no ``container-keys``) at IO-CONTAINER-KINDS.
    """

    def save(self, obj: Any, path: Any) -> None:
        def plain(item: Any) -> Any:
            if isinstance(item, dict):
                return {str(k): plain(v) for k, v in item.items()}
            if isinstance(item, (list, tuple)):
                return [plain(v) for v in item]
            return item

        super().save(plain(obj), path)
