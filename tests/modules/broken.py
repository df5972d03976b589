"""Broken torch modules: each breaks the module contract in one way, and ``fails`` says exactly where.

Most break one clause alone (dependents may be blocked); a few realistic ones,
the chapter's own code among them, break several, each listed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tests.modules.correct import Case, TiedAutoencoder


@dataclass(frozen=True)
class Broken(Case):
    fails: frozenset[str] = frozenset()


def _case(name: str, factory: Any, shapes: tuple[tuple[int, ...], ...], *fails: str) -> Broken:
    return Broken(name, factory, shapes, fails=frozenset(fails))


# --- the chapter's code as written -------------------------------------------------------------------


class FixedHiddenMLP(nn.Module):
    """4.1.1 as written: rand_weight is a plain tensor attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.rand_weight = torch.rand((20, 20), requires_grad=False)
        self.linear = nn.Linear(20, 20)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class MyLinearData(nn.Module):
    """4.3.2 as written: forward uses .data, so no gradient reaches the parameters."""

    def __init__(self, in_units: int = 5, units: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        linear = torch.matmul(X, self.weight.data) + self.bias.data
        return F.relu(linear)


# --- MOD-REGISTERED ---------------------------------------------------------------------------------


class PlainListOfActivations(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.acts = [nn.ReLU(), nn.Tanh()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for act in self.acts:
            x = act(self.lin(x))
        return x


class PlainDictOfModules(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.table = {"soft": nn.Softplus(), "sig": nn.Sigmoid()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table["soft"](self.lin(x)) * self.table["sig"](self.lin(x))


class PlainListWithDropout(nn.Module):
    """A dropout holds no state, but train/eval switches it: unregistered, eval() never reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.extras = [nn.Dropout(0.5)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extras[0](self.lin(x))


class PlainListOfLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(6, 6), nn.Linear(6, 2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](torch.relu(self.layers[0](x)))


_GLOBAL_HEAD = nn.Linear(4, 2)


class UsesGlobalLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GLOBAL_HEAD(torch.relu(self.body(x)))


# --- MOD-ANY-BATCH ------------------------------------------------------------------------------------


class HardCodedReshape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).reshape(4, -1)


class HardCodedConstant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + torch.zeros(4, 6, device=x.device, dtype=x.dtype)


# --- MOD-EVAL-DETERMINISTIC ---------------------------------------------------------------------------


class AlwaysDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.lin(x), 0.5, training=True)


class CountsCalls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x)


# --- MOD-INPUT-UNCHANGED ------------------------------------------------------------------------------


class ReluInPlaceOnInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.relu_())


class AddsToInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x += 1
        return self.lin(x)


# --- MOD-GRAD-REACHES ---------------------------------------------------------------------------------


class DetachedBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)).detach())


# --- MOD-GRAD-CORRECT ---------------------------------------------------------------------------------


class _BadCube(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * x**2  # the factor 3 is missing


class WrongBackward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _BadCube.apply(self.lin(x))


class _BadScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, w = ctx.saved_tensors
        return grad * w, (grad * w).sum(0)  # the weight's gradient uses w where x belongs


class WrongParameterGradient(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.randn(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _BadScale.apply(x, self.scale)


class _DoubledGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return 2 * grad  # the identity's gradient, doubled


class ResNetWithWrongFunction(nn.Module):
    """A residual CNN (many kinks) whose last conv's output passes a Function with a wrong backward."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        x = torch.relu(x + _DoubledGradient.apply(self.conv(x)))
        return self.head(x.mean(dim=(2, 3)))


# --- MOD-FACTORY-KWARGS, MOD-MODES-REACH ---------------------------------------------------------------


class FactoryKwargsForgotten(nn.Module):
    """Takes device= and dtype= but creates its buffer without them (on the CPU, in float32)."""

    def __init__(self, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4, device=device, dtype=dtype)
        self.register_buffer("scale", torch.full((4,), 0.5))

    def reset_parameters(self) -> None:  # the meta path works (MOD-META-INIT): only the placement is wrong
        self.scale.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale.to(x.dtype)


class TrainForgetsItself(nn.Module):
    """Overrides train() to switch its children but forgets self.training."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def train(self, mode: bool = True) -> TrainForgetsItself:
        for child in self.children():
            child.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class WeightStandardizedConv(nn.Conv2d):
    """Weight standardization written with .view() of the weight: a channels_last weight cannot be viewed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.view(self.weight.size(0), -1)
        w = ((w - w.mean(1, keepdim=True)) / (w.std(1, keepdim=True) + 1e-5)).view_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


def weight_standardized() -> nn.Module:
    return nn.Sequential(WeightStandardizedConv(3, 4, 3, padding=1), nn.ReLU())


# --- MOD-STATE-ROUNDTRIP ------------------------------------------------------------------------------


class RandomNonPersistentMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.register_buffer("mask", (torch.rand(6) > 0.5).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.mask


class RandomPlainFloat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.temperature = 0.5 + float(torch.rand(()))  # a drawn hyper-parameter the state dict never sees

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) / self.temperature


# --- MOD-DEEPCOPY -------------------------------------------------------------------------------------


class ShallowDeepcopy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)

    def __deepcopy__(self, memo: dict[int, Any]) -> ShallowDeepcopy:
        return copy.copy(self)


class RebuildingDeepcopy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)

    def __deepcopy__(self, memo: dict[int, Any]) -> RebuildingDeepcopy:
        return type(self)()  # new random weights


# --- MOD-TIES-KEPT ------------------------------------------------------------------------------------


class AssigningLoad(TiedAutoencoder):
    """Ties two parameters of different layers, then loads with assign=True: each name gets its own tensor."""

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        return super().load_state_dict(state_dict, strict=strict, assign=True)


class RetyingTo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(6, 6)
        self.dec = nn.Linear(6, 6)
        self.dec.weight = self.enc.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.tanh(self.enc(x)))

    def to(self, *args: Any, **kwargs: Any) -> RetyingTo:
        moved = super().to(*args, **kwargs)
        self.dec.weight = nn.Parameter(self.enc.weight.detach().clone())  # a copy, not the tie
        return moved


# --- MOD-DEVICE-MOVE ----------------------------------------------------------------------------------


class ConstantWithoutDevice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + torch.ones(x.shape[-1], dtype=x.dtype)


class OutputOnCPU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lin(x), torch.zeros(x.shape[0], dtype=x.dtype)


# --- MOD-DTYPE-MOVE -----------------------------------------------------------------------------------


class ConstantWithoutDtype(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * torch.full((x.shape[-1],), 2.0, device=x.device)


class Float32Table(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + torch.tensor([0.1, 0.2, 0.3, 0.4], device=x.device)


# --- MOD-NONCONTIGUOUS --------------------------------------------------------------------------------


class ViewFlatten(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.view(x.shape[0], -1))


class AssumesStrides(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.as_strided(x.shape, (x.shape[1], 1))  # the strides of a contiguous tensor, assumed
        return self.lin(rows)


# --- MOD-BATCH-INDEPENDENT (SHOULD) -------------------------------------------------------------------


class BatchCentering(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(x)
        return h - h.mean(dim=0, keepdim=True)


# --- MOD-META-INIT, MOD-GRADGRAD, MOD-COMPILE-PARITY ---------------------------------------------------


class InitOnlyInConstructor(nn.Module):
    """Takes device= but sets its scale in __init__ only: built on meta, to_empty leaves it uninitialized."""

    def __init__(self, device: Any = None) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4, device=device)
        self.scale = nn.Parameter(torch.ones(4, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


class _CubeSavedSlope(torch.autograd.Function):
    """x**3 whose backward multiplies by a slope computed in forward: right once, silently wrong twice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(3 * x**2)  # computed in forward: no graph back to x
        return x**3

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (slope,) = ctx.saved_tensors
        return grad * slope


class NotTwiceDifferentiable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _CubeSavedSlope.apply(self.lin(x))


class CompileOnlyFastPath(nn.Module):
    """A 'fast path' taken only under torch.compile that forgets the bias."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return F.linear(x, self.lin.weight)
        return self.lin(x)


REG, DEV, DTYPE = "MOD-REGISTERED", "MOD-DEVICE-MOVE", "MOD-DTYPE-MOVE"
HELPERS = "MOD-HELPERS-REGISTERED"

CHAPTER: Sequence[Broken] = (
    _case("chapter FixedHiddenMLP as written", FixedHiddenMLP, ((2, 20),), REG, DEV, DTYPE),
    _case("chapter MyLinear as written (.data)", MyLinearData, ((4, 5),), "MOD-GRAD-REACHES"),
)

BROKEN: Sequence[Broken] = (
    *CHAPTER,
    _case("plain list of activations (stateless)", PlainListOfActivations, ((4, 6),), HELPERS),
    _case("plain dict of modules (stateless)", PlainDictOfModules, ((4, 6),), HELPERS),
    _case("plain list holding a Dropout", PlainListWithDropout, ((4, 6),), REG, "MOD-EVAL-DETERMINISTIC"),
    _case("plain list of Linear layers", PlainListOfLinear, ((4, 6),), REG, DEV, DTYPE),
    _case("module-scope layer used in forward", UsesGlobalLayer, ((4, 6),), REG, DEV, DTYPE),
    _case("reshape with a hard-coded batch", HardCodedReshape, ((4, 6),), "MOD-ANY-BATCH"),
    _case("constant with a hard-coded batch", HardCodedConstant, ((4, 6),), "MOD-ANY-BATCH"),
    _case("dropout also in eval", AlwaysDropout, ((4, 6),), "MOD-EVAL-DETERMINISTIC"),
    _case("buffer updated by every forward", CountsCalls, ((4, 6),), "MOD-EVAL-DETERMINISTIC"),
    _case("relu_ on the input", ReluInPlaceOnInput, ((4, 6),), "MOD-INPUT-UNCHANGED"),
    _case("x += 1 on the input", AddsToInput, ((4, 6),), "MOD-INPUT-UNCHANGED"),
    _case("detached branch", DetachedBranch, ((4, 6),), "MOD-GRAD-REACHES"),
    _case("custom Function, wrong input gradient", WrongBackward, ((4, 6),), "MOD-GRAD-CORRECT"),
    _case("custom Function, wrong parameter gradient", WrongParameterGradient, ((4, 6),), "MOD-GRAD-CORRECT"),
    _case("residual CNN, Function with a wrong backward", ResNetWithWrongFunction, ((2, 3, 8, 8),), "MOD-GRAD-CORRECT"),
    _case("random non-persistent buffer", RandomNonPersistentMask, ((4, 6),), "MOD-STATE-ROUNDTRIP"),
    _case("random plain float attribute", RandomPlainFloat, ((4, 6),), "MOD-STATE-ROUNDTRIP"),
    _case("__deepcopy__ returns a shallow copy", ShallowDeepcopy, ((4, 6),), "MOD-DEEPCOPY"),
    _case("__deepcopy__ builds a new instance", RebuildingDeepcopy, ((4, 6),), "MOD-DEEPCOPY"),
    _case("load_state_dict with assign=True", AssigningLoad, ((4, 6),), "MOD-TIES-KEPT"),
    _case("to() re-creates a tied weight", RetyingTo, ((4, 6),), "MOD-TIES-KEPT"),
    _case("constant made without device=", ConstantWithoutDevice, ((4, 6),), DEV),
    _case("output made on the CPU", OutputOnCPU, ((4, 6),), DEV),
    _case("constant made without dtype=", ConstantWithoutDtype, ((4, 6),), DTYPE),
    _case("float32 torch.tensor constant", Float32Table, ((4, 6),), DTYPE),
    _case(".view() of the input", ViewFlatten, ((4, 2, 3),), "MOD-NONCONTIGUOUS"),
    _case("as_strided with contiguous strides", AssumesStrides, ((4, 6),), "MOD-NONCONTIGUOUS"),
    _case("centring over the batch", BatchCentering, ((4, 6),), "MOD-BATCH-INDEPENDENT"),
    _case("device=/dtype= taken but not passed on", FactoryKwargsForgotten, ((4, 6),), "MOD-FACTORY-KWARGS"),
    _case("train() overridden, self.training forgotten", TrainForgetsItself, ((4, 6),), "MOD-MODES-REACH"),
    _case("weight .view() in a conv", weight_standardized, ((2, 3, 6, 6),), "MOD-CHANNELS-LAST"),
    _case("device= taken, init in __init__ only", InitOnlyInConstructor, ((4, 6),), "MOD-META-INIT"),
    _case("custom Function, backward not differentiable", NotTwiceDifferentiable, ((4, 6),), "MOD-GRADGRAD"),
    _case("is_compiling() fast path without the bias", CompileOnlyFastPath, ((4, 6),), "MOD-COMPILE-PARITY"),
)
