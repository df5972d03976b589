"""The chapter's blocks, written in PyTorch as the chapter writes them.

Three places differ from the book's code, each because the book's version
breaks a clause:

- ``FixedHiddenMLP.rand_weight`` is a registered *buffer*, not a plain
  attribute: ``.to(device)`` moves buffers but not plain tensor attributes,
  so the book's block fails on a GPU (DEV-CONSTANT-FOLLOWS). As a persistent
  buffer it is also saved with the state dict, so a loaded clone computes
  the same function (IO-STATE-DICT-CLONE).
- ``MyLinear.forward`` uses ``self.weight``, not ``self.weight.data``:
  ``.data`` detaches, and no gradient would reach the parameters
  (MYLINEAR-GRADS).
- ``tied_net`` calls ``nn.ReLU()``; the notes write ``nn.ReLU`` (a class, not
  a layer).

The initializers test ``isinstance(m, nn.Linear)`` where the book writes
``type(m) == nn.Linear``, so that subclasses of Linear are initialized too.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(F.relu(self.hidden(X)))
        return out


class FixedHiddenMLP(nn.Module):
    rand_weight: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        # A constant, not a parameter: no gradient, never updated. Registered
        # as a buffer so that it follows the block to a device.
        self.register_buffer("rand_weight", torch.rand((20, 20)))
        self.linear = nn.Linear(20, 20)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)  # the same layer again: its parameters are shared
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class MySequential(nn.Module):
    def __init__(self, *args: nn.Module) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for block in self._modules.values():
            assert block is not None
            X = block(X)
        return X


def block1() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())


def block2() -> nn.Sequential:
    net = nn.Sequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())
    return net


def rgnet() -> nn.Sequential:
    return nn.Sequential(block2(), nn.Linear(4, 1))


def tied_net() -> nn.Sequential:
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


def init_normal(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, mean=0, std=0.01)
        nn.init.zeros_(m.bias)


def init_constant(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 1)
        nn.init.zeros_(m.bias)


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)


def init_42(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 42)


def my_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.uniform_(m.weight, -10, 10)
        m.weight.data *= m.weight.data.abs() >= 5


class CenteredLayer(nn.Module):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X - X.mean()


class MyLinear(nn.Module):
    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)


def try_gpu(i: int = 0) -> torch.device:
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]
