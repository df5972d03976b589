"""``Sequential``: a module that runs its children in registration order.

Children are registered under ``"0"``, ``"1"``, ... (or any names, through
``add_module``); integer indexing is by *position*, whatever the names, so
``rgnet[0][1][0]`` walks nested blocks like nested lists.

>>> from reference import nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
>>> net.append(nn.Linear(8, 1))[-1]
Linear(in_features=8, out_features=1, bias=True)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, overload

from ._module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(name=module))``;
    ``forward(x)`` is ``m_last(...m1(m0(x)))``."""

    def __init__(self, *args: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
            return
        for index, item in enumerate(args):
            if not isinstance(item, Module):
                raise TypeError(
                    f"Sequential expects Modules (or one OrderedDict), got {type(item).__name__} at {index}"
                )
            self.add_module(str(index), item)

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            if module is not None:
                input = module(input)
        return input

    def _position(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"Sequential indices must be ints or slices, not {type(index).__name__}")
        size = len(self._modules)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range for a Sequential of length {size}")
        return index % size

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))  # type: ignore[arg-type]
        module = items[self._position(index)][1]
        if module is None:
            raise IndexError(f"position {index} holds None")
        return module

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._modules)[self._position(index)]
        setattr(self, key, module)

    def __delitem__(self, index: int) -> None:
        key = list(self._modules)[self._position(index)]
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return (m for m in self._modules.values() if m is not None)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end under the name ``str(len(self))``."""
        self.add_module(str(len(self)), module)
        return self
