"""The chapter's blocks, written in tinygrad as a tinygrad user writes them.

tinygrad has no Module base class: a model is any Python object whose
attributes, lists and dicts hold tensors and callables, and
``nn.state.get_state_dict`` names its tensors by walking that object graph
(``hidden.weight``, ``0.weight``, ``block 1.0.bias``). So:

- a block is a plain class with ``__call__``; its children are attributes;
- a sequential container is a list of callables applied with
  ``Tensor.sequential``; :class:`Sequential` and :class:`NamedSequential` are
  a ``list`` and a ``dict`` that can also be called (``__slots__ = ()`` keeps
  them free of an instance ``__dict__``, so ``get_state_dict`` walks them as
  the list or dict they are, and names children by index or key);
- ReLU is the function ``Tensor.relu``, as in tinygrad's own models;
- a constant (``FixedHiddenMLP.rand_weight``) is a tensor attribute marked
  ``is_param_(False)``, the way tinygrad marks BatchNorm's running statistics:
  it is in the state dict but not a parameter.

Departures from the book's code, each because the book's version breaks a
clause or is not expressible: ``MyLinear`` uses ``self.weight`` (no ``.data``);
``FixedHiddenMLP``'s loop condition is read with ``.item()`` (a tinygrad
tensor has no truth value); ``tied_net`` calls ReLU, not the class.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tinygrad import nn
from tinygrad.device import Device
from tinygrad.tensor import Tensor

Layer = Callable[[Tensor], Tensor]


class Sequential(list):  # type: ignore[type-arg]
    """A list of layers, called in order (``x.sequential(layers)``)."""

    __slots__ = ()

    def __call__(self, x: Tensor) -> Tensor:
        return x.sequential(list(self))


class NamedSequential(dict):  # type: ignore[type-arg]
    """Layers under chosen names (the chapter's ``add_module(name, block)``), called in insertion order."""

    __slots__ = ()

    def add_module(self, name: str, layer: Any) -> None:
        self[name] = layer

    def __call__(self, x: Tensor) -> Tensor:
        return x.sequential(list(self.values()))


class Block:
    """A user-written block: each child an attribute, applied in the order assigned."""

    def __init__(self, children: list[tuple[str, Any]]) -> None:
        for name, child in children:
            setattr(self, name, child)

    def __call__(self, X: Tensor) -> Tensor:
        for child in vars(self).values():
            X = child(X)
        return X


class MLP:
    def __init__(self) -> None:
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def __call__(self, X: Tensor) -> Tensor:
        return self.out(self.hidden(X).relu())


class FixedHiddenMLP:
    def __init__(self) -> None:
        # A constant, not a parameter: marked as tinygrad marks BatchNorm's statistics.
        self.rand_weight = Tensor.rand(20, 20).is_param_(False)
        self.linear = nn.Linear(20, 20)

    def __call__(self, X: Tensor) -> Tensor:
        X = self.linear(X)
        X = (X.matmul(self.rand_weight) + 1).relu()
        X = self.linear(X)  # the same layer again: its parameters are shared
        while X.abs().sum().item() > 1:
            X = X / 2
        return X.sum()


class MySequential:
    """The chapter's MySequential: each block an attribute named by its index."""

    def __init__(self, *args: Any) -> None:
        for idx, module in enumerate(args):
            setattr(self, str(idx), module)

    def __call__(self, X: Tensor) -> Tensor:
        for block in vars(self).values():
            X = block(X)
        return X


def block1() -> Sequential:
    return Sequential([nn.Linear(4, 8), Tensor.relu, nn.Linear(8, 4), Tensor.relu])


def block2() -> NamedSequential:
    net = NamedSequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())
    return net


def rgnet() -> Sequential:
    return Sequential([block2(), nn.Linear(4, 1)])


def tied_net() -> Sequential:
    shared = nn.Linear(8, 8)
    return Sequential([nn.Linear(4, 8), Tensor.relu, shared, Tensor.relu, shared, Tensor.relu, nn.Linear(8, 1)])


class CenteredLayer:
    def __call__(self, X: Tensor) -> Tensor:
        return X - X.mean()


class MyLinear:
    def __init__(self, in_units: int, units: int) -> None:
        self.weight = Tensor.randn(in_units, units)
        self.bias = Tensor.randn(units)

    def __call__(self, X: Tensor) -> Tensor:
        return (X.matmul(self.weight) + self.bias).relu()


# --- initialization: tinygrad has no init module; a parameter is re-drawn with assign ---------
def _linears(m: Any) -> list[nn.Linear]:
    return [m] if isinstance(m, nn.Linear) else []


def init_normal(m: Any) -> None:
    for layer in _linears(m):
        w = layer.weight
        w.assign(Tensor.normal(*w.shape, mean=0, std=0.01, dtype=w.dtype, device=w.device)).realize()
        if layer.bias is not None:
            layer.bias.assign(layer.bias.zeros_like()).realize()


def init_constant(m: Any) -> None:
    for layer in _linears(m):
        layer.weight.assign(layer.weight.full_like(1)).realize()
        if layer.bias is not None:
            layer.bias.assign(layer.bias.zeros_like()).realize()


def init_xavier(m: Any) -> None:
    for layer in _linears(m):
        w = layer.weight
        w.assign(Tensor.glorot_uniform(*w.shape, dtype=w.dtype, device=w.device)).realize()


def init_42(m: Any) -> None:
    for layer in _linears(m):
        layer.weight.assign(layer.weight.full_like(42)).realize()


def my_init(m: Any) -> None:
    for layer in _linears(m):
        w = layer.weight
        w.assign(Tensor.uniform(*w.shape, low=-10, high=10, dtype=w.dtype, device=w.device)).realize()
        w.assign(w * (w.abs() >= 5)).realize()


# --- devices ------------------------------------------------------------------------------------
#: The host device: tinygrad's CPU backend (it compiles kernels with clang).
HOST = "CPU"


def accelerators() -> list[str]:
    """The accelerators: the default device when it is not the CPU, else host devices ``CPU:1`` ...

    tinygrad keeps ``CPU:1`` apart from ``CPU`` (separate buffers; mixing them
    raises), so on a CPU-only machine they stand in for accelerators, as JAX's
    extra host devices do for the Flax backend. ``BLOCKSPEC_TINYGRAD_HOST_DEVICES``
    sets how many (default 3; 0 for none).
    """
    if Device.DEFAULT != HOST:
        return [Device.DEFAULT]  # tinygrad names index 0 without its index ('CUDA:0' is 'CUDA')
    count = int(os.environ.get("BLOCKSPEC_TINYGRAD_HOST_DEVICES", "3"))
    return [f"{HOST}:{i}" for i in range(1, count + 1)]


def try_gpu(i: int = 0) -> str:
    devices = accelerators()
    return devices[i] if len(devices) >= i + 1 else HOST


def try_all_gpus() -> list[str]:
    return accelerators() or [HOST]
