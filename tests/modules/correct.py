"""Correct torch modules, varied: each must pass every MUST clause of the module contract.

Each :class:`Case` names a zero-argument factory and its input shapes (batch
first). ``should_fail`` lists the SHOULD clauses a module breaks by design.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn


@dataclass(frozen=True)
class Case:
    name: str
    factory: Callable[[], nn.Module]
    shapes: tuple[tuple[int, ...], ...]
    should_fail: frozenset[str] = frozenset()
    inputs: Any = None
    why: str = ""
    notes: dict[str, str] = field(default_factory=dict)


# --- the chapter's blocks, as corrected -------------------------------------------------------------


class MLP(nn.Module):
    """4.1.1, as written."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.hidden(X)))


class FixedHiddenMLPBuffer(nn.Module):
    """4.1.1's FixedHiddenMLP with rand_weight registered as a buffer: the fix of the chapter's code."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("rand_weight", torch.rand((20, 20)))
        self.linear = nn.Linear(20, 20)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class MyLinear(nn.Module):
    """4.3.2's MyLinear using the parameters themselves (not .data)."""

    def __init__(self, in_units: int = 5, units: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.matmul(X, self.weight) + self.bias)


class MySequential(nn.Module):
    """4.1.2."""

    def __init__(self, *args: nn.Module) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for block in self._modules.values():
            assert block is not None
            X = block(X)
        return X


def my_sequential() -> nn.Module:
    return MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))


def rgnet() -> nn.Module:
    """4.2.1's nested block2."""

    def block1() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())

    block2 = nn.Sequential()
    for i in range(4):
        block2.add_module(f"block {i}", block1())
    return nn.Sequential(block2, nn.Linear(4, 1))


def tied_net() -> nn.Module:
    """4.2.3."""
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


class CenteredLayer(nn.Module):
    """4.3.1: couples the samples of a batch by design (MOD-BATCH-INDEPENDENT is SHOULD for that)."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X - X.mean()


def centered_net() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 128), CenteredLayer())


# --- containers, buffers, lazy and parametrized ---------------------------------------------------------


class ListNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 6) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


class DictNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 2)})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads["a"](x), self.heads["b"](x)


class ParamListNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(6, 6) / 3) for _ in range(2)])
        self.scales = nn.ParameterDict({"out": nn.Parameter(torch.ones(6))})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for w in self.weights:
            x = torch.sigmoid(x @ w)
        return x * self.scales["out"]


def batchnorm_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))


def dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def lazy_stack() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(3))


class PersistentBuffer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)
        self.register_buffer("shift", torch.randn(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + self.shift


class DeterministicNonPersistent(nn.Module):
    """A non-persistent buffer that every instance computes the same way: nothing to save."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.register_buffer("positions", torch.arange(6, dtype=torch.float32) / 6, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * torch.cos(self.positions)


def weight_norm_net() -> nn.Module:
    return nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(6, 5)), nn.Tanh(), nn.Linear(5, 2))


class LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, (h, _) = self.lstm(x)
        return self.head(out), h


def conv_bn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, x, x, need_weights=False)
        return out


class InPlaceIntermediate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        y = y * 1.5
        y += 1  # in place on an intermediate that no backward needs
        y.relu_()
        return self.b(y)


class TrainEvalBranch(nn.Module):
    """Noise in training only, and a different path in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            x = x + 0.1 * torch.randn_like(x)
        return self.lin(x)


class ConstantsLikeInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = torch.ones(x.shape[-1], device=x.device, dtype=x.dtype)
        ramp = torch.linspace(0, 1, x.shape[-1], device=x.device, dtype=x.dtype)
        return self.lin(x + offset) * ramp


class _Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class _Affine(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return x @ w.t() + b

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, w = ctx.saved_tensors
        return grad @ w, grad.t() @ x, grad.sum(0)


class CustomFunctions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 6) / 3)
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Cube.apply(_Affine.apply(x, self.weight, self.bias))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(6)
        self.ff = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 4)
        self.b = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.a(x) + self.b(y))


class TiedAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(6, 3, bias=False)
        self.decoder = nn.Linear(3, 6, bias=False)
        self.extra = nn.Linear(6, 6)
        self.extra.weight = nn.Parameter(torch.eye(6))
        self.mirror = nn.Linear(6, 6)
        self.mirror.weight = self.extra.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mirror(self.decoder(torch.tanh(self.encoder(x))) + self.extra(x))


class Embedder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.head = nn.Linear(6, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).mean(dim=1))


TOKENS = st.builds(
    lambda batch, length, seed: (torch.randint(0, 10, (batch, length), generator=torch.Generator().manual_seed(seed)),),
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(0, 2**31 - 1),
)


class SmallResNet(nn.Module):
    """A residual CNN: many ReLUs and a max-pool, so many kinks lie near every point (MOD-GRAD-CORRECT's hard case)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(2)
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)
        )
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        x = torch.relu(x + self.block(x))
        return self.head(x.mean(dim=(2, 3)))


def embedding_with_padding() -> nn.Module:
    """torch's own padding row: autograd gives it a zero gradient by design (MOD-GRAD-CORRECT holds it fixed)."""
    return nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Linear(4, 3))


class FactoryKwargs(nn.Module):
    """Takes device= and dtype= as torch.nn's layers do, and passes them to everything it creates."""

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4, device=device, dtype=dtype)
        self.register_buffer("scale", torch.full((4,), 0.5, device=device, dtype=dtype))

    def reset_parameters(self) -> None:  # what the meta path calls after to_empty (MOD-META-INIT)
        self.scale.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


class ResetsItsParameters(nn.Module):
    """Takes device= and initializes in reset_parameters(), called from __init__: the meta path works."""

    def __init__(self, device: Any = None) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4, device=device)
        self.scale = nn.Parameter(torch.empty(4, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


class _OnceCube(torch.autograd.Function):
    """x**3 whose backward is marked once differentiable: a second derivative raises (MOD-GRADGRAD n/a)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class OnceDifferentiable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _OnceCube.apply(self.lin(x))


class OverridesTrain(nn.Module):
    """Overrides train() (to freeze a part) and still reaches every submodule and itself via super()."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.drop = nn.Dropout(0.2)

    def train(self, mode: bool = True) -> OverridesTrain:
        super().train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.lin(x))


def gru_net() -> nn.Module:
    class GRUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(4, 5, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(x)[0][:, -1]

    return GRUNet()


CASES: Sequence[Case] = (
    Case("chapter MLP", MLP, ((4, 20),)),
    Case(
        "chapter FixedHiddenMLP, rand_weight as a buffer",
        FixedHiddenMLPBuffer,
        ((2, 20),),
        why="MOD-DEVICE-MOVE is skipped on meta: its while loop reads a value",
    ),
    Case("chapter MyLinear, without .data", MyLinear, ((4, 5),)),
    Case("chapter MySequential", my_sequential, ((3, 20),)),
    Case("chapter nested rgnet", rgnet, ((4, 4),)),
    Case("chapter tied net", tied_net, ((2, 4),)),
    Case("chapter CenteredLayer in a Sequential", centered_net, ((4, 8),), frozenset({"MOD-BATCH-INDEPENDENT"})),
    Case("ModuleList", ListNet, ((4, 6),)),
    Case("ModuleDict, two outputs", DictNet, ((4, 6),)),
    Case("ParameterList and ParameterDict", ParamListNet, ((4, 6),)),
    Case("BatchNorm1d", batchnorm_mlp, ((4, 6),)),
    Case("Dropout", dropout_mlp, ((4, 6),)),
    Case("lazy stack", lazy_stack, ((4, 6),)),
    Case("persistent random buffer", PersistentBuffer, ((4, 6),)),
    Case("deterministic non-persistent buffer", DeterministicNonPersistent, ((4, 6),)),
    Case(
        "weight_norm parametrization",
        weight_norm_net,
        ((4, 6),),
        frozenset({"MOD-GRADGRAD"}),
        why=(
            "a true departure of torch 2.13 (CPU): the double backward of torch._weight_norm is wrong; "
            "torch.autograd.gradgradcheck(lambda v, g: torch._weight_norm(v, g, 0), (v, g)) fails too, while "
            "g * v / v.norm(dim=1, keepdim=True) passes it"
        ),
    ),
    Case("LSTM, two layers, batch first", LSTMNet, ((3, 5, 4),)),
    Case("GRU, last step", gru_net, ((3, 4, 4),)),
    Case("Conv2d + BatchNorm2d on 4-D input", conv_bn, ((2, 3, 8, 8),)),
    Case("MultiheadAttention", SelfAttention, ((2, 5, 8),)),
    Case("in-place ops on intermediates", InPlaceIntermediate, ((4, 6),)),
    Case("train/eval branching", TrainEvalBranch, ((4, 6),)),
    Case("constants made with device= and dtype= of the input", ConstantsLikeInput, ((4, 6),)),
    Case("custom autograd.Functions, correct backward", CustomFunctions, ((4, 6),)),
    Case("residual LayerNorm block", Residual, ((4, 6),)),
    Case("two inputs", TwoInputs, ((4, 6), (4, 3))),
    Case("tied autoencoder", TiedAutoencoder, ((4, 6),)),
    Case("embedding of integer tokens (--inputs)", Embedder, (), inputs=TOKENS),
    Case("nn.Embedding with padding_idx (--inputs)", embedding_with_padding, (), inputs=TOKENS),
    Case("small residual CNN (many kinks)", SmallResNet, ((2, 3, 8, 8),)),
    Case("device= and dtype= factory kwargs", FactoryKwargs, ((4, 6),)),
    Case("train() overridden, through super()", OverridesTrain, ((4, 6),)),
    Case("device= taken, init in reset_parameters()", ResetsItsParameters, ((4, 6),)),
    Case("custom Function marked once_differentiable", OnceDifferentiable, ((4, 6),)),
)
