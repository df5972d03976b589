"""The chapter's own blocks, written as the textbook would write them with
this library (D2L ch. 4, "Deep learning computation", sections 4.1–4.5).

Two deliberate departures from the book, each fixing a defect measured on
PyTorch (see the class docstrings): ``FixedHiddenMLP`` registers its constant
weight as a buffer, and ``MyLinear`` does not read ``.data`` in ``forward``.

>>> import reference
>>> from reference import chapter
>>> net = chapter.MLP()
>>> net(reference.rand(2, 20)).shape
(2, 10)
"""

from __future__ import annotations

from . import _factories as factories
from ._device import try_all_gpus, try_gpu
from ._linalg import mm
from ._ops import relu
from ._tensor import Tensor
from .nn import Linear, Module, Parameter, ReLU, Sequential, init

__all__ = [
    "MLP",
    "CenteredLayer",
    "FixedHiddenMLP",
    "MyLinear",
    "MySequential",
    "block1",
    "block2",
    "init_42",
    "init_constant",
    "init_normal",
    "init_xavier",
    "my_init",
    "rgnet",
    "tied_net",
    "try_all_gpus",
    "try_gpu",
]


# --- 4.1 Layers and blocks ---------------------------------------------------


class MLP(Module):
    """4.1.1: a hidden layer of 256 units and an output layer of 10."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = Linear(20, 256)
        self.out = Linear(256, 10)

    def forward(self, X: Tensor) -> Tensor:
        return self.out(relu(self.hidden(X)))


class FixedHiddenMLP(Module):
    """4.1.1: arbitrary Python in ``forward`` — a constant weight, a layer
    used twice (shared parameters), and a ``while`` loop on a tensor value.

    Unlike the book, ``rand_weight`` is registered as a (persistent)
    *buffer* instead of a plain attribute. PyTorch's ``Module.to()`` moves
    parameters and buffers but not plain tensor attributes, so the book's
    version fails with a device mismatch once moved to a GPU; and because the
    constant is part of what the model computes, the state dict must carry it
    for a loaded clone to give the same output.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("rand_weight", factories.rand(20, 20))
        self.linear = Linear(20, 20)

    def forward(self, X: Tensor) -> Tensor:
        X = self.linear(X)
        X = relu(mm(X, self.rand_weight) + 1)
        X = self.linear(X)  # the same layer again: shared parameters
        while X.abs().sum() > 1:  # control flow on a value
            X /= 2  # under autograd: rebinds X to X / 2 (see reference._tensor)
        return X.sum()


class MySequential(Module):
    """4.1.2: a hand-written Sequential that stores its blocks in the
    ordered ``_modules`` dict under ``str(idx)``."""

    def __init__(self, *args: Module) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X: Tensor) -> Tensor:
        for block in self._modules.values():
            if block is not None:  # (None placeholders are allowed in _modules)
                X = block(X)
        return X


# --- 4.2 Parameter management ------------------------------------------------


def block1() -> Sequential:
    """4.2.1: ``Linear(4, 8), ReLU, Linear(8, 4), ReLU``."""
    return Sequential(Linear(4, 8), ReLU(), Linear(8, 4), ReLU())


def block2() -> Sequential:
    """4.2.1: four ``block1`` registered as ``"block 0"`` … ``"block 3"``."""
    net = Sequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())
    return net


def rgnet() -> Sequential:
    """4.2.1: ``Sequential(block2(), Linear(4, 1))``; parameter names look
    like ``0.block 1.0.bias``."""
    return Sequential(block2(), Linear(4, 1))


def init_normal(m: Module) -> None:
    """4.2.2: weights from N(0, 0.01²), biases zero (Linear layers only)."""
    if isinstance(m, Linear):
        init.normal_(m.weight, mean=0.0, std=0.01)
        if m.bias is not None:
            init.zeros_(m.bias)


def init_constant(m: Module) -> None:
    """4.2.2: weights 1, biases 0."""
    if isinstance(m, Linear):
        init.constant_(m.weight, 1.0)
        if m.bias is not None:
            init.zeros_(m.bias)


def init_xavier(m: Module) -> None:
    """4.2.2: Xavier-uniform weights (biases untouched)."""
    if isinstance(m, Linear):
        init.xavier_uniform_(m.weight)


def init_42(m: Module) -> None:
    """4.2.2: weights set to the constant 42."""
    if isinstance(m, Linear):
        init.constant_(m.weight, 42.0)


def my_init(m: Module) -> None:
    """4.2.2: ``w ~ U(-10, 10)``, then zero every entry with ``|w| < 5``:
    U(5, 10) w.p. 1/4, 0 w.p. 1/2, U(-10, -5) w.p. 1/4."""
    if isinstance(m, Linear):
        init.uniform_(m.weight, -10.0, 10.0)
        m.weight.data *= m.weight.data.abs() >= 5


def tied_net() -> Sequential:
    """4.2.3: one ``shared`` Linear(8, 8) at positions 2 and 4: the same
    parameters, whose gradients add up in backward."""
    shared = Linear(8, 8)
    return Sequential(Linear(4, 8), ReLU(), shared, ReLU(), shared, ReLU(), Linear(8, 1))


# --- 4.3 Custom layers -------------------------------------------------------


class CenteredLayer(Module):
    """4.3.1: subtracts the mean; no parameters."""

    def forward(self, X: Tensor) -> Tensor:
        return X - X.mean()


class MyLinear(Module):
    """4.3.2: a fully connected layer with its own parameters,
    ``relu(X @ weight + bias)`` with ``weight`` of shape (in_units, units).

    Unlike the book, ``forward`` uses ``self.weight`` rather than
    ``self.weight.data``: ``.data`` is detached, so the book's version never
    sends a gradient to its own parameters.
    """

    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        self.weight = Parameter(factories.randn(in_units, units))
        self.bias = Parameter(factories.randn(units))

    def forward(self, X: Tensor) -> Tensor:
        return relu(X @ self.weight + self.bias)

    def extra_repr(self) -> str:
        return f"in_units={self.weight.shape[0]}, units={self.weight.shape[1]}"


# 4.5: ``try_gpu`` and ``try_all_gpus`` are the library's own, re-exported here.
