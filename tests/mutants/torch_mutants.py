"""Mutant PyTorch backends: each breaks one behaviour the way real frameworks and user code do.

A mutant names the clause it must be caught by in ``target``. The meta-test
(tests/test_mutants.py) runs the whole suite on each one and requires that
clause to fail while every other MUST clause passes or is blocked.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from conformance import arch as A
from conformance._protocol import Gradients
from conformance.backends.torch import TorchBackend, blocks


def _chapter(**overrides: Any) -> types.SimpleNamespace:
    """The chapter's blocks with some replaced."""
    names = {name: getattr(blocks, name) for name in dir(blocks) if not name.startswith("_")}
    return types.SimpleNamespace(**{**names, **overrides})


# --- 4.1 Layers and blocks ---------------------------------------------------------------


class UpcastingForward(TorchBackend):
    """Forward returns float64 for float32 input (a framework promoting silently)."""

    target = "BLOCK-FORWARD-SHAPE"

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = module(x)
        return out.double() if out.dtype is torch.float32 else out


class _BiasIgnoredLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class BiasIgnoredLinear(TorchBackend):
    """Linear forgets its bias in forward."""

    target = "BLOCK-FORWARD-VALUE"
    linear_class = _BiasIgnoredLinear


class HalfPrecisionInputGrad(TorchBackend):
    """The gradient w.r.t. the input comes back rounded to float16."""

    target = "BLOCK-BACKWARD-INPUT"

    def gradients(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> Gradients:
        grads = super().gradients(module, x, cotangent)
        return Gradients(grads.input.astype(np.float16).astype(grads.input.dtype), grads.params, grads.devices)


class _DetachedBiasLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, None if self.bias is None else self.bias.detach())


class DetachedBias(TorchBackend):
    """Linear uses bias.detach() (like .data) in forward: the bias never gets a gradient."""

    target = "BLOCK-BACKWARD-PARAMS"
    linear_class = _DetachedBiasLinear


class _PlainListBlock(nn.Module):
    def __init__(self, children: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.layers = [child for _, child in children]  # a plain list: nothing is registered

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            X = layer(X)
        return X


class PlainListBlock(TorchBackend):
    """A custom block keeps its layers in a plain Python list."""

    target = "BLOCK-REGISTRATION"
    block_class = _PlainListBlock


class _SortedForwardSequential(nn.Sequential):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        for _, module in sorted(self._modules.items()):
            assert module is not None
            input = module(input)
        return input


class SortedNamedSequential(TorchBackend):
    """A container applies its children in sorted-name order (as a dict sorted by key would)."""

    target = "BLOCK-NESTING"
    sequential_class = _SortedForwardSequential


class _PlainAttributeFixedHiddenMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rand_weight = torch.rand((20, 20), requires_grad=False)  # the book's plain attribute
        self.linear = nn.Linear(20, 20)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return blocks.FixedHiddenMLP.forward(self, X)  # type: ignore[arg-type]


class PlainAttributeConstant(TorchBackend):
    """FixedHiddenMLP as the book writes it: the constant is a plain tensor attribute."""

    target = "CONSTANT-NOT-PARAMETER"
    blocks = _chapter(FixedHiddenMLP=_PlainAttributeFixedHiddenMLP)


class _SignedLoopFixedHiddenMLP(blocks.FixedHiddenMLP):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)
        while X.sum() > 1:  # abs() forgotten
            X /= 2
        return X.sum()


class SignedLoopCondition(TorchBackend):
    """FixedHiddenMLP's loop tests X.sum() instead of X.abs().sum()."""

    target = "CONTROL-FLOW"
    blocks = _chapter(FixedHiddenMLP=_SignedLoopFixedHiddenMLP)


class _DetachedReuseFixedHiddenMLP(blocks.FixedHiddenMLP):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = F.linear(X, self.linear.weight.detach(), self.linear.bias.detach())  # reuse through .data
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class DetachedSecondUse(TorchBackend):
    """FixedHiddenMLP reuses its layer through detached values: the second use adds no gradient."""

    target = "LAYER-REUSE-SHARES"
    blocks = _chapter(FixedHiddenMLP=_DetachedReuseFixedHiddenMLP)


class _ReversedSequential(nn.Sequential):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        for module in reversed(list(self)):
            input = module(input)
        return input


class ReversedSequential(TorchBackend):
    """Sequential applies its children last to first."""

    target = "SEQ-ORDER"
    sequential_class = _ReversedSequential


class _OffByOneSequential(nn.Sequential):
    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, int):
            return super().__getitem__((idx + 1) % len(self))
        return super().__getitem__(idx)


class OffByOneIndex(TorchBackend):
    """net[i] returns the child after the i-th."""

    target = "SEQ-INDEX"
    sequential_class = _OffByOneSequential


class _PrefixedMySequential(nn.Module):
    def __init__(self, *args: nn.Module) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[f"layer{idx}"] = module

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for block in self._modules.values():
            assert block is not None
            X = block(X)
        return X


class PrefixedMySequential(TorchBackend):
    """MySequential stores its blocks under 'layerN' instead of str(idx)."""

    target = "SEQ-CUSTOM-EQUIV"
    blocks = _chapter(MySequential=_PrefixedMySequential)


# --- 4.2 Parameter management ----------------------------------------------------------------


class _ScaledLinear(nn.Linear):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("scale", torch.ones(1))  # persistent: it lands in the state dict


class ExtraBufferLinear(TorchBackend):
    """Linear carries an extra persistent buffer (say a quantization scale) in its state."""

    target = "PARAM-LINEAR-STATE"
    linear_class = _ScaledLinear


class PlainTensorParameters(TorchBackend):
    """named_parameters() hands out plain tensors (detached views), not parameters."""

    target = "PARAM-TYPE"

    def __init__(self) -> None:
        self._views: dict[int, tuple[nn.Parameter, torch.Tensor]] = {}

    def _view(self, param: nn.Parameter) -> torch.Tensor:
        if id(param) not in self._views:
            self._views[id(param)] = (param, param.detach())
        return self._views[id(param)][1]

    def _original(self, tensor: Any) -> Any:
        for param, view in self._views.values():
            if view is tensor:
                return param
        return tensor

    def named_parameters(self, module: nn.Module) -> list[tuple[str, Any]]:
        return [(name, self._view(p)) for name, p in module.named_parameters()]

    def grad(self, parameter: Any) -> np.ndarray | None:
        return super().grad(self._original(parameter))


class EagerZeroGrad(TorchBackend):
    """Parameters get a zero gradient at construction instead of none."""

    target = "PARAM-GRAD-NONE"

    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> nn.Module:
        module = super().build(node, dtype=dtype, device=device)
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
        return module


class OverwritingBackward(TorchBackend):
    """Each backward pass replaces the gradients instead of adding to them."""

    target = "PARAM-GRAD-ACCUMULATES"

    def backward(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> None:
        module.zero_grad(set_to_none=True)
        super().backward(module, x, cotangent)


class SlashNames(TorchBackend):
    """Parameter names are joined with '/' (Keras style) instead of '.'."""

    target = "PARAM-NAMES-FLAT"

    def named_parameters(self, module: nn.Module) -> list[tuple[str, nn.Parameter]]:
        return [(name.replace(".", "/"), p) for name, p in module.named_parameters()]


class _UnderscoreSequential(nn.Sequential):
    def add_module(self, name: str, module: nn.Module | None) -> None:
        super().add_module(name.replace(" ", "_"), module)


class UnderscoredModuleNames(TorchBackend):
    """add_module replaces spaces in names with underscores ('block 1' becomes 'block_1')."""

    target = "PARAM-NAMES-NESTED"
    sequential_class = _UnderscoreSequential


class _SortedIndexSequential(nn.Sequential):
    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, int) and not all(key.isdigit() for key in self._modules):
            return [m for _, m in sorted(self._modules.items())][idx]
        return super().__getitem__(idx)


class SortedNameIndexing(TorchBackend):
    """Indexing a container built with add_module follows its sorted names."""

    target = "PARAM-NESTED-INDEX"
    sequential_class = _SortedIndexSequential


class ReversedStateDict(TorchBackend):
    """state_dict() of a module with children lists its entries last to first."""

    target = "STATE-DICT-KEYS"

    def state_dict(self, module: nn.Module) -> list[tuple[str, torch.Tensor]]:
        items = super().state_dict(module)
        return items[::-1] if len(module._modules) else items


class FlatRepr(TorchBackend):
    """Printing a module loses its indentation."""

    target = "MODULE-REPR"

    def describe(self, module: nn.Module) -> str:
        return "\n".join(line.strip() for line in str(module).splitlines())


class VarianceNormal(TorchBackend):
    """normal_ takes the variance where the standard deviation was meant."""

    target = "INIT-NORMAL"

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "normal":
            kwargs = {"mean": kwargs["mean"], "std": kwargs["std"] ** 2}
        super().init_(parameter, scheme, **kwargs)


class ZerosSkipsVectors(TorchBackend):
    """zeros_ leaves 1-d tensors (biases) untouched."""

    target = "INIT-ZEROS"

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "zeros" and parameter.dim() == 1:
            return
        super().init_(parameter, scheme, **kwargs)


class IntegerConstant(TorchBackend):
    """constant_ truncates its value to an integer."""

    target = "INIT-CONSTANT"

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "constant":
            kwargs = {"value": float(int(kwargs["value"]))}
        super().init_(parameter, scheme, **kwargs)


class UniformIgnoresLow(TorchBackend):
    """uniform_(a, b) draws from U(0, b)."""

    target = "INIT-UNIFORM"

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "uniform":
            kwargs = {"a": 0.0, "b": kwargs["b"]}
        super().init_(parameter, scheme, **kwargs)


class FanInXavier(TorchBackend):
    """xavier_uniform_ uses fan_in alone for its bound."""

    target = "INIT-XAVIER-UNIFORM"

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "xavier_uniform":
            bound = kwargs["gain"] * (6.0 / parameter.shape[1]) ** 0.5
            nn.init.uniform_(parameter, -bound, bound)
            return
        super().init_(parameter, scheme, **kwargs)


def _signed_my_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.uniform_(m.weight, -10, 10)
        m.weight.data *= m.weight.data >= 5  # abs() forgotten


class SignedMyInit(TorchBackend):
    """my_init keeps w >= 5 instead of |w| >= 5."""

    target = "INIT-CUSTOM"
    blocks = _chapter(my_init=_signed_my_init)


class _ZeroInitLinear(nn.Linear):
    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class ZeroDefaultInit(TorchBackend):
    """Linear's default initialization is all zeros."""

    target = "INIT-DEFAULT"
    linear_class = _ZeroInitLinear


def _traverse(module: nn.Module, fn: Callable[[nn.Module], None], pre: bool, repeat: int) -> None:
    if pre:
        fn(module)
    for child in module.children():
        for _ in range(repeat):
            _traverse(child, fn, pre, 1)
    if not pre:
        fn(module)


class ApplyTwice(TorchBackend):
    """apply visits every child twice."""

    target = "APPLY-VISITS-ONCE"

    def apply(self, module: nn.Module, fn: Callable[[nn.Module], None]) -> None:
        _traverse(module, fn, pre=False, repeat=2)


class PreOrderApply(TorchBackend):
    """apply visits a parent before its children."""

    target = "APPLY-POST-ORDER"

    def apply(self, module: nn.Module, fn: Callable[[nn.Module], None]) -> None:
        _traverse(module, fn, pre=True, repeat=1)


def _constant_keeps_bias(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 1)  # zeros_(m.bias) forgotten


class ConstantInitKeepsBias(TorchBackend):
    """The chapter's init_constant forgets to zero the bias."""

    target = "INIT-PER-LAYER"
    blocks = _chapter(init_constant=_constant_keeps_bias)


class AssignToClone(TorchBackend):
    """Direct assignment writes into a copy of the parameter."""

    target = "PARAM-DIRECT-SET"

    def assign(self, parameter: nn.Parameter, value: np.ndarray) -> None:
        copy = parameter.detach().clone()
        copy[...] = torch.as_tensor(value, dtype=parameter.dtype)


def _build_without_sharing(node: A.Node, make: Callable[[A.Node, Callable[[A.Node], Any]], Any]) -> Any:
    def build_child(child: A.Node) -> Any:
        return make(child, build_child)

    return build_child(node)


class TieByCopy(TorchBackend):
    """A layer used twice is built twice: the tie becomes two copies with equal values."""

    target = "TIE-IDENTITY"
    build_tree = staticmethod(_build_without_sharing)


class NoDedupParameters(TorchBackend):
    """named_parameters() lists a tied parameter once per use."""

    target = "TIE-PARAMS-ONCE"

    def named_parameters(self, module: nn.Module) -> list[tuple[str, nn.Parameter]]:
        return list(module.named_parameters(remove_duplicate=False))


class DedupStateDict(TorchBackend):
    """state_dict() drops the alias keys of a tied parameter."""

    target = "TIE-STATE-DICT-ALIASES"

    def state_dict(self, module: nn.Module) -> list[tuple[str, torch.Tensor]]:
        seen: set[int] = set()
        kept = []
        for key, value in super().state_dict(module):
            if value.data_ptr() not in seen:
                seen.add(value.data_ptr())
                kept.append((key, value))
        return kept


_CALLED: set[int] = set()


class _FirstUseLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if id(self) in _CALLED:  # a second use in this pass contributes no gradient
            return F.linear(x, self.weight.detach(), None if self.bias is None else self.bias.detach())
        _CALLED.add(id(self))
        return super().forward(x)


class FirstUseGradOnly(TorchBackend):
    """Only the first use of a shared layer in a forward pass receives a gradient."""

    target = "TIE-GRAD-SUM"
    linear_class = _FirstUseLinear

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        _CALLED.clear()
        return super().forward(module, x)

    def gradients(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> Gradients:
        _CALLED.clear()
        return super().gradients(module, x, cotangent)

    def backward(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> None:
        _CALLED.clear()
        super().backward(module, x, cotangent)
