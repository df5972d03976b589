"""tinyframe: a teaching framework small enough to read in one sitting.

NumPy arrays, reverse-mode autodiff on a tape, and just enough of PyTorch's
module API for the chapter: ``Module`` registers parameters, buffers and
children by attribute assignment, ``Sequential``, ``Linear``, ``ReLU``, a
few initializers, and one device (the CPU). It has no ``.grad`` attribute
(gradients are returned by :func:`grad`), no ``apply``, no lazy layers, no
files and no accelerators, so its blockspec adapter declares few
capabilities.

>>> layer = Linear(3, 2)
>>> y = layer(Tensor(np.ones((4, 3), dtype=np.float32)))
>>> y.data.shape
(4, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed the generator every initializer draws from."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _rng


class Tensor:
    """An array that remembers how it was computed: ``parents`` pairs each input with its backward function."""

    def __init__(self, data: Any, parents: tuple[tuple[Tensor, Callable[[np.ndarray], np.ndarray]], ...] = ()) -> None:
        self.data = np.asarray(data)
        self.parents = parents

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __add__(self, other: Tensor | float) -> Tensor:
        if not isinstance(other, Tensor):
            return Tensor(self.data + np.asarray(other, self.data.dtype), ((self, lambda g: g),))
        return Tensor(
            self.data + other.data,
            ((self, lambda g: _unbroadcast(g, self.shape)), (other, lambda g: _unbroadcast(g, other.shape))),
        )

    def __sub__(self, other: Tensor) -> Tensor:
        return self + other * -1.0

    def __mul__(self, factor: float) -> Tensor:
        f = np.asarray(factor, self.data.dtype)
        return Tensor(self.data * f, ((self, lambda g: g * f),))

    def __truediv__(self, divisor: float) -> Tensor:
        return self * (1.0 / divisor)

    def __matmul__(self, other: Tensor) -> Tensor:
        return Tensor(self.data @ other.data, ((self, lambda g: g @ other.data.T), (other, lambda g: self.data.T @ g)))

    @property
    def T(self) -> Tensor:
        return Tensor(self.data.T, ((self, lambda g: g.T),))

    def relu(self) -> Tensor:
        mask = self.data > 0
        return Tensor(self.data * mask, ((self, lambda g: g * mask),))

    def sum(self) -> Tensor:
        return Tensor(self.data.sum(), ((self, lambda g: np.broadcast_to(g, self.shape)),))

    def mean(self) -> Tensor:
        return self.sum() * (1.0 / max(self.data.size, 1))


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes broadcasting added."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def grad(output: Tensor, inputs: list[Tensor], cotangent: np.ndarray) -> list[np.ndarray | None]:
    """Gradients of ``sum(output * cotangent)`` with respect to each of ``inputs`` (None: not reached)."""
    order: list[Tensor] = []
    seen: set[int] = set()

    def visit(t: Tensor) -> None:  # depth-first topological order
        if id(t) not in seen:
            seen.add(id(t))
            for parent, _ in t.parents:
                visit(parent)
            order.append(t)

    visit(output)
    grads: dict[int, np.ndarray] = {id(output): np.broadcast_to(cotangent, output.shape).astype(output.data.dtype)}
    for t in reversed(order):
        g = grads.get(id(t))
        if g is None:
            continue
        for parent, backward in t.parents:
            contribution = backward(g)
            grads[id(parent)] = grads[id(parent)] + contribution if id(parent) in grads else contribution
    return [grads.get(id(t)) for t in inputs]


class Parameter(Tensor):
    """A trainable tensor; a module registers it when it is assigned as an attribute."""


class Module:
    """Registers Parameters, buffers (``register_buffer``) and child Modules in assignment order."""

    _params: dict[str, Parameter]
    _buffers: dict[str, Tensor]
    _children: dict[str, Module]

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_children", {})

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._params[name] = value
        elif isinstance(value, Module):
            self._children[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: Tensor) -> None:
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def named_children(self) -> list[tuple[str, Module]]:
        return list(self._children.items())

    def _entries(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every parameter and buffer under every path (a shared child at each of its places)."""
        for name, t in [*self._params.items(), *self._buffers.items()]:
            yield prefix + name, t
        for name, child in self._children.items():
            yield from child._entries(f"{prefix}{name}.")

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        seen: set[int] = set()
        found = []
        for name, t in self._entries():
            if isinstance(t, Parameter) and id(t) not in seen:
                seen.add(id(t))
                found.append((name, t))
        return found

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self._entries())

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values in place; raise KeyError naming missing/unexpected keys (strict) or wrong shapes."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"missing keys {missing}, unexpected keys {unexpected}")
        for key in own:
            if key in state and np.shape(state[key]) != own[key].shape:
                raise ValueError(f"shape mismatch for {key}: {np.shape(state[key])} vs {own[key].shape}")
        for key, t in own.items():
            if key in state:
                t.data[...] = state[key]
        return missing, unexpected


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1 / np.sqrt(in_features)
        self.weight = Parameter(_rng.uniform(-bound, bound, (out_features, in_features)).astype(np.float32))
        self.bias = Parameter(_rng.uniform(-bound, bound, out_features).astype(np.float32)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Sequential(Module):
    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self._children.values():
            x = layer(x)
        return x

    def add_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    def __getitem__(self, i: int) -> Module:
        return list(self._children.values())[i]

    def __len__(self) -> int:
        return len(self._children)


# --- initializers: overwrite a parameter's values in place -------------------------------
def normal_(p: Tensor, mean: float = 0.0, std: float = 1.0) -> None:
    p.data[...] = _rng.normal(mean, std, p.shape)


def uniform_(p: Tensor, a: float = 0.0, b: float = 1.0) -> None:
    p.data[...] = _rng.uniform(a, b, p.shape)


def constant_(p: Tensor, value: float) -> None:
    p.data[...] = value


def zeros_(p: Tensor) -> None:
    constant_(p, 0.0)


def xavier_uniform_(p: Tensor, gain: float = 1.0) -> None:
    fan_out, fan_in = p.shape
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    uniform_(p, -bound, bound)
