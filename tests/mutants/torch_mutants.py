"""Mutant PyTorch backends: each breaks one behaviour the way real frameworks and user code do.

A mutant names the clause it must be caught by in ``target``. The meta-test
(tests/test_killmatrix.py) runs the suite on each one and requires that
clause to fail while every other MUST clause passes or is blocked.

The mutants are grouped by the chapter section of their target (4.1 to 4.5), as
``tests/mutants/reference_mutants.py`` and the suite's modules are. A mutant with a
``region`` is correct on small sizes, few children, two uses, two passes and float32,
and wrong only in the dimension of ``ALL_REACH`` it names
(``conformance/kit/reach_strategies.py``): the kill matrix runs it at the ci profile,
and tests/test_killmatrix.py also with ``--shapes palette``, to show that a per-run
palette of sizes still reaches its region. Mutants shared with the reference
backend take their behaviour from tests/mutants/loads.py, regions.py and ties.py.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parameter import is_lazy

from conformance import arch as A
from conformance._protocol import Gradients
from conformance.backends.torch import TorchBackend, blocks
from tests.mutants import loads, regions, ties


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


class BatchOneDropsBias(TorchBackend):
    """A forward on a single example (batch 1) skips every bias (a fast path for vectors gone wrong)."""

    target = "BLOCK-FORWARD-VALUE"
    region = "batch"

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[0] == 1:
            saved = {}
            for m in module.modules():
                if isinstance(m, nn.Linear) and m.bias is not None:
                    saved[m] = m.bias
                    m.bias = None
            try:
                return module(x)
            finally:
                for m, b in saved.items():
                    m.bias = b
        return super().forward(module, x)


class WideInputDropsLast(TorchBackend):
    """A linear layer of more than 100 inputs ignores its last input (a blocked kernel's tail left out)."""

    target = "BLOCK-FORWARD-VALUE"
    region = "width"

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        saved = {}
        for m in module.modules():
            if isinstance(m, nn.Linear) and m.in_features > 100:
                saved[m] = m.weight
                m.weight = nn.Parameter(torch.cat([m.weight[:, :-1], torch.zeros_like(m.weight[:, -1:])], dim=1))
        try:
            return module(x)
        finally:
            for m, w in saved.items():
                m.weight = w


class _EmptyRaisesSequential(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self) == 0:  # a "first layer's output" fast path with no first layer
            raise IndexError("index 0 is out of range")
        return super().forward(x)


class EmptySequentialRaises(TorchBackend):
    """An empty Sequential raises in forward instead of being the identity."""

    target = "BLOCK-NESTING"
    region = "children"
    sequential_class = _EmptyRaisesSequential


class _TiledSequential(nn.Sequential):
    nested = False  # set on the Sequentials built inside another one

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        for child in args:
            if isinstance(child, _TiledSequential):
                child.nested = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.nested and out.shape[-1] > 100:  # a fixed 100-column tile: the columns past it are never written
            out = torch.cat([out[..., :100], torch.zeros_like(out[..., 100:])], dim=-1)
        return out


class WideSequentialTruncated(TorchBackend):
    """A Sequential nested in another, with an output wider than 100 features, returns zeros past the 100th."""

    target = "BLOCK-NESTING"
    region = "net_width"
    sequential_class = _TiledSequential


class RankThreeScrambled(regions.RankThreeScrambled, TorchBackend):
    """A forward on a rank-3 input mixes up its two leading dimensions (a reshape where a permute belonged)."""


class LargeBatchTailDropped(regions.LargeBatchTailDropped, TorchBackend):
    """A forward on more than 8 rows, not a multiple of 8, leaves the last rows' outputs at zero."""


class HalfLinearDropsBias(regions.HalfLinearDropsBias, TorchBackend):
    """A forward in float16 or bfloat16 leaves out every linear layer's bias."""


class HalfBiasGradientDropped(regions.HalfBiasGradientDropped, TorchBackend):
    """A backward in float16 or bfloat16 leaves every bias gradient at zero."""


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

    @functools.cached_property  # not made in __init__: a dunder redefined would run the whole suite on the mutant
    def _views(self) -> dict[int, tuple[nn.Parameter, torch.Tensor]]:
        return {}

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
        return [(name, p if is_lazy(p) else self._view(p)) for name, p in module.named_parameters()]

    def grad(self, parameter: Any) -> np.ndarray | None:
        return super().grad(self._original(parameter))


class EagerZeroGrad(TorchBackend):
    """Parameters get a zero gradient at construction instead of none."""

    target = "PARAM-GRAD-NONE"

    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> nn.Module:
        module = super().build(node, dtype=dtype, device=device)
        for p in module.parameters():
            if not is_lazy(p):  # an uninitialized lazy parameter has no values to zero
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


class TieByCopy(TorchBackend):
    """A layer used twice is built twice: the tie becomes two copies with equal values."""

    target = "TIE-IDENTITY"
    reuse = staticmethod(ties.built_anew)


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


def _copy_tie(owner: Any, user: Any) -> None:
    user.weight = nn.Parameter(owner.weight.detach().clone())


class TieParamByCopy(TorchBackend):
    """b.weight = a.weight done as b.weight = nn.Parameter(a.weight.detach().clone()): equal values, two tensors."""

    target = "TIE-PARAM-IDENTITY"
    tie = staticmethod(_copy_tie)


class _TwoUsesLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, ties.weight_seen_by(self), self.bias)


class _TwoUsesMyLinear(blocks.MyLinear):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = F.relu(torch.matmul(X, ties.weight_seen_by(self)) + self.bias)
        return out


class GradOfFirstTwoUses(ties.UsesPerPass, TorchBackend):
    """A weight shared by a Linear and a MyLinear gets the gradient of its first two uses only (a third is dropped)."""

    linear_class = _TwoUsesLinear
    blocks = _chapter(MyLinear=_TwoUsesMyLinear)


def _lexical_key_order(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Sort the children of every container of more than 10 (a name numbered 10 or more) as strings ('10' < '2')."""
    siblings: dict[tuple[str, ...], list[str]] = {}
    for key, _ in pairs:
        parts = key.split(".")
        for depth in range(len(parts) - 1):
            names = siblings.setdefault(tuple(parts[:depth]), [])
            if parts[depth] not in names:
                names.append(parts[depth])
    keys = []
    for index, (key, _) in enumerate(pairs):
        parts = key.split(".")
        sort_key: list[tuple[str, int]] = []
        for depth, part in enumerate(parts[:-1]):
            names = siblings[tuple(parts[:depth])]
            wide = any(int(m.group()) >= 10 for n in names if (m := re.search(r"\d+$", n)))
            sort_key.append((part, 0) if wide else ("", names.index(part)))
        keys.append((sort_key, index))
    return [pair for _, pair in sorted(zip(keys, pairs, strict=True), key=lambda kp: kp[0])]


class LexicalStateDictOrder(TorchBackend):
    """state_dict() sorts a container's children by name as strings once it has more than 10: 10.weight before 2.weight."""

    target = "STATE-DICT-KEYS"
    region = "children"

    def state_dict(self, module: nn.Module) -> list[tuple[str, torch.Tensor]]:
        return _lexical_key_order(super().state_dict(module))


class ThirdBackwardResets(TorchBackend):
    """Every third backward pass on a module overwrites .grad instead of adding to it."""

    target = "PARAM-GRAD-ACCUMULATES"
    region = "backward_passes"

    def backward(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> None:
        count = getattr(module, "_blockspec_passes", 0) + 1
        object.__setattr__(module, "_blockspec_passes", count)
        if count % 3 == 0:
            for param in module.parameters():
                param.grad = None
        super().backward(module, x, cotangent)


def _shared_by_two_uses(module: nn.Module, use: int, rebuild: Callable[[], nn.Module]) -> nn.Module:
    """Share a reused node at its first two uses only; a third use builds a copy."""
    return module if use <= 2 else rebuild()


class TieForTwoUsesOnly(TorchBackend):
    """A layer used three or more times is shared by its first two uses; later uses get copies."""

    target = "TIE-IDENTITY"
    region = "tie_uses"
    reuse = staticmethod(_shared_by_two_uses)


class Float64ConstantThroughFloat32(TorchBackend):
    """constant_() on a float64 tensor writes the value rounded to float32 first."""

    target = "INIT-CONSTANT"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        if scheme == "constant" and parameter.dtype is torch.float64:
            kwargs = {"value": float(np.float32(kwargs["value"]))}
        super().init_(parameter, scheme, **kwargs)


class NormalVectorsUnitStd(TorchBackend):
    """normal_() on a 1-D tensor ignores std (a vector kernel with the default hard-wired)."""

    target = "INIT-NORMAL"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        if scheme == "normal" and parameter.dim() == 1:
            kwargs = {**kwargs, "std": 1.0}
        super().init_(parameter, scheme, **kwargs)


class ConversionUntiesModules(loads.ConversionUntiesModules, TorchBackend):
    """module.to(dtype) converts a module registered twice into a copy at its later places (ties lost)."""


class LargeConstantWrapsInt32(regions.LargeConstantWrapsInt32, TorchBackend):
    """``constant_`` with an integral value of magnitude 2**31 or more stores it wrapped to int32."""


class HalfNormalTruncates(regions.HalfNormalTruncates, TorchBackend):
    """``normal_`` on a float16 or bfloat16 tensor rounds its samples toward zero."""


class ZeroStdFallsBackToOne(regions.ZeroStdFallsBackToOne, TorchBackend):
    """``normal_(w, mean, std=0)`` draws with std 1."""


class NormalArgumentsInFloat32(regions.NormalArgumentsInFloat32, TorchBackend):
    """``normal_`` keeps ``mean`` and ``std`` as float32, whatever the tensor's dtype."""


class ConversionBackRestoresOriginal(regions.ConversionBackRestoresOriginal, TorchBackend):
    """Converting a module back to the dtype it was built in restores the values it had then."""


class StateDictMemoizesContainers(regions.StateDictMemoizesContainers, TorchBackend):
    """``state_dict()`` gives a container met a second time no keys at its second path."""


class NestedReLUCallsMerged(regions.NestedReLUCallsMerged, TorchBackend):
    """A ReLU met again in one forward, either call inside a nested container, gives its first call's output."""


# --- 4.3 Custom layers -------------------------------------------------------------------------


class _ColumnCentered(nn.Module):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X - X.mean(dim=0)


class ColumnCentered(TorchBackend):
    """CenteredLayer subtracts each column's mean instead of the overall mean."""

    target = "CENTERED-MEAN"
    blocks = _chapter(CenteredLayer=_ColumnCentered)


class _UpcastingCentered(nn.Module):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X.double() - X.double().mean()


class UpcastingCentered(TorchBackend):
    """CenteredLayer computes (and returns) float64 whatever its input."""

    target = "CENTERED-SHAPE"
    blocks = _chapter(CenteredLayer=_UpcastingCentered)


class _OffsetCentered(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X - X.mean() + self.offset


class OffsetCentered(TorchBackend):
    """CenteredLayer carries a (zero) trainable offset."""

    target = "CENTERED-NO-PARAMS"
    blocks = _chapter(CenteredLayer=_OffsetCentered)


class _KnownLayersSequential(nn.Sequential):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        for module in self:
            known = (
                isinstance(module, (nn.ReLU, nn.Sequential))
                or any(True for _ in module.parameters())
                or any(True for _ in module.children())
            )
            if known:  # a parameter-free leaf layer it does not know is treated as the identity
                input = module(input)
        return input


class SkipsUnknownLayers(TorchBackend):
    """Sequential treats parameter-free layers it does not know (CenteredLayer) as the identity."""

    target = "CENTERED-COMPOSE"
    sequential_class = _KnownLayersSequential


class _NoReluMyLinear(blocks.MyLinear):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.matmul(X, self.weight) + self.bias


class MyLinearWithoutRelu(TorchBackend):
    """MyLinear forgets its ReLU."""

    target = "MYLINEAR-FORWARD"
    blocks = _chapter(MyLinear=_NoReluMyLinear)


class _DataMyLinear(blocks.MyLinear):
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.matmul(X, self.weight.data) + self.bias.data)  # the book's version


class BookMyLinear(TorchBackend):
    """MyLinear as the book writes it: .data in forward detaches the parameters."""

    target = "MYLINEAR-GRADS"
    blocks = _chapter(MyLinear=_DataMyLinear)


class _PlainBiasMyLinear(nn.Module):
    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = torch.randn(units, requires_grad=True)  # a plain attribute: not registered

    def to(self, *args: Any, **kwargs: Any) -> Any:
        self.bias = self.bias.detach().to(*args, **kwargs).requires_grad_(True)
        return super().to(*args, **kwargs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.matmul(X, self.weight) + self.bias)


class PlainBiasMyLinear(TorchBackend):
    """MyLinear keeps its bias as a plain tensor attribute, so it is not registered."""

    target = "CUSTOM-PARAMS-REGISTERED"
    blocks = _chapter(MyLinear=_PlainBiasMyLinear)

    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> nn.Module:
        if isinstance(node, A.MyLinear) and node.values is not None:  # load what registration hides
            layer = self.blocks.MyLinear(node.in_units, node.units).to(dtype=getattr(torch, dtype))
            with torch.no_grad():
                layer.weight.copy_(torch.as_tensor(node.values.weight))
            layer.bias = torch.as_tensor(node.values.bias).clone().requires_grad_(True)
            return layer if device is None else layer.to(device)
        return super().build(node, dtype=dtype, device=device)


class ZerosForUninitialized(TorchBackend):
    """Reading an uninitialized lazy parameter returns an empty array instead of an error."""

    target = "LAZY-UNINITIALIZED"

    def to_numpy(self, tensor: torch.Tensor) -> np.ndarray:
        if isinstance(tensor, nn.parameter.UninitializedParameter):
            return np.zeros((0,), dtype=np.float32)
        return super().to_numpy(tensor)


class _BatchInferringLinear(nn.LazyLinear):
    def initialize_parameters(self, input: torch.Tensor) -> None:  # type: ignore[override]
        super().initialize_parameters(input.transpose(0, -1))  # infers from the batch dimension


class BatchInferringLazy(TorchBackend):
    """LazyLinear infers its input width from the batch dimension."""

    target = "LAZY-INFERS-SHAPE"
    lazy_linear_class = _BatchInferringLinear


class _ReinferringLinear(nn.LazyLinear):
    cls_to_become = None  # type: ignore[assignment]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.has_uninitialized_params() and input.shape[-1] != self.in_features:
            self.in_features = input.shape[-1]  # silently re-infers for the new width
            self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
            self.reset_parameters()
        return super().forward(input)


class ReinferringLazy(TorchBackend):
    """A materialized lazy layer silently re-infers its width for a wider input."""

    target = "LAZY-WIDTH-MISMATCH"
    lazy_linear_class = _ReinferringLinear


class LazyRefusesState(TorchBackend):
    """A never-called lazy module refuses a state dict ('run forward first')."""

    target = "LAZY-LOAD-STATE"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()):
            from conformance._protocol import LoadRejected

            raise LoadRejected("lazy parameters must be materialized by a forward pass before loading")
        return super().load_state_dict(module, state, strict=strict)


class OneRowAcceptsWrongWidth(regions.OneRowAcceptsWrongWidth, TorchBackend):
    """A materialized linear layer called with a one-row batch of another width pads or cuts it instead of raising."""


# --- 4.4 File I/O --------------------------------------------------------------------------------


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return type(obj)((k, _map_tensors(v, fn)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    return obj


class NarrowingLoad(TorchBackend):
    """Loading narrows float64 tensors to float32."""

    target = "IO-TENSOR-ROUNDTRIP"

    def load(self, path: Any, map_location: str | None = None) -> Any:
        loaded = super().load(path, map_location)
        return _map_tensors(loaded, lambda t: t.float() if t.dtype is torch.float64 else t)


class SortedKeysLoad(TorchBackend):
    """Loading returns dicts with their keys sorted."""

    target = "IO-CONTAINER-ROUNDTRIP"

    def load(self, path: Any, map_location: str | None = None) -> Any:
        def sort(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: sort(obj[k]) for k in sorted(obj)}
            if isinstance(obj, list):
                return [sort(v) for v in obj]
            return obj

        return sort(super().load(path, map_location))


class BuffersNotLoaded(TorchBackend):
    """load_state_dict restores parameters but not buffers."""

    target = "IO-STATE-DICT-CLONE"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        own = dict(module.named_buffers())
        kept = {k: (own.get(k, v)) for k, v in state.items()}  # buffers keep their old values
        return super().load_state_dict(module, kept, strict=strict)


class TieRestoredByCopy(TorchBackend):
    """After loading, a layer registered twice is replaced by a copy at its second place."""

    target = "IO-TIES-SURVIVE"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        import copy

        result = super().load_state_dict(module, state, strict=strict)
        for parent in module.modules():
            seen: set[int] = set()
            for name, child in list(parent._modules.items()):
                if child is not None and id(child) in seen:
                    parent._modules[name] = copy.deepcopy(child)
                elif child is not None:
                    seen.add(id(child))
        return result


class StrictIgnoresMissing(TorchBackend):
    """Strict loading only checks for unexpected keys."""

    target = "LOAD-STRICT-MISSING"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        result = super().load_state_dict(module, state, strict=False)
        if strict and result.unexpected:
            from conformance._protocol import LoadRejected

            raise LoadRejected("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in result.unexpected))
        return result


class StrictIgnoresUnexpected(TorchBackend):
    """Strict loading only checks for missing keys."""

    target = "LOAD-STRICT-UNEXPECTED"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        if strict:
            own = dict(module.state_dict())
            state = {k: v for k, v in state.items() if k in own}
        return super().load_state_dict(module, state, strict=strict)


class SkipsMismatchedShapes(TorchBackend):
    """Non-strict loading silently skips tensors of the wrong shape."""

    target = "LOAD-SHAPE-MISMATCH"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        if not strict:
            own = dict(module.state_dict())
            state = {k: v for k, v in state.items() if k not in own or own[k].shape == v.shape}
        return super().load_state_dict(module, state, strict=strict)


class SilentNonStrict(TorchBackend):
    """Non-strict loading reports nothing."""

    target = "LOAD-NONSTRICT-REPORTS"

    def load_state_dict(self, module: nn.Module, state: Any, *, strict: bool) -> Any:
        from conformance._protocol import LoadResult

        result = super().load_state_dict(module, state, strict=strict)
        return result if strict else LoadResult([], [])


class PickleLoad(TorchBackend):
    """Loading unpickles anything (weights_only=False, the default before PyTorch 2.6)."""

    target = "IO-NO-CODE-EXECUTION"

    def load(self, path: Any, map_location: str | None = None) -> Any:
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception:
            import pickle

            with open(path, "rb") as handle:
                return pickle.load(handle)


class ForgivingLoad(TorchBackend):
    """Loading a damaged file (neither a zip archive nor a pickle) returns an empty dict instead of raising."""

    target = "IO-CORRUPT-FILE"

    def load(self, path: Any, map_location: str | None = None) -> Any:
        import zipfile
        from pathlib import Path

        try:
            return super().load(path, map_location)
        except Exception:
            if zipfile.is_zipfile(path) or Path(path).read_bytes()[:1] == b"\x80":
                raise
            return {}


class LargeSaveTruncated(TorchBackend):
    """save() keeps only the first 2**16 elements of a larger tensor; the rest load as zeros."""

    target = "IO-TENSOR-ROUNDTRIP"
    region = "elements"

    def save(self, obj: Any, path: Any) -> None:
        def cut(t: torch.Tensor) -> torch.Tensor:
            if t.numel() <= 2**16:
                return t
            flat = t.detach().contiguous().reshape(-1).clone()
            flat[2**16 :] = 0
            return flat.reshape(t.shape)

        super().save(_map_tensors(obj, cut), path)


class LargeDictReordered(TorchBackend):
    """load() returns a dict of more than 8 keys in sorted key order (a hash-table resize reorders it)."""

    target = "IO-CONTAINER-ROUNDTRIP"
    region = "dict_keys"

    def load(self, path: Any, map_location: str | None = None) -> Any:
        def reorder(obj: Any) -> Any:
            if isinstance(obj, dict):
                keys = sorted(obj, key=str) if len(obj) > 8 else list(obj)
                return {k: reorder(obj[k]) for k in keys}
            if isinstance(obj, list):
                return [reorder(v) for v in obj]
            return obj

        return reorder(super().load(path, map_location))


class RankBlindLoad(loads.RankBlindLoad, TorchBackend):
    """A tensor with the parameter's element count loads whatever its rank (reshaped: 0-d into (1,))."""


class SharedBufferLoad(loads.SharedBufferLoad, TorchBackend):
    """Loading makes each parameter share the source tensor's buffer instead of copying into its own."""


class RetypingLoad(loads.RetypingLoad, TorchBackend):
    """Loading a tensor of another float dtype retypes the parameter to it (tinygrad 0.14's load)."""


class RefusesOtherDtype(loads.RefusesOtherDtype, TorchBackend):
    """Loading refuses a state dict of another float dtype (conforming, but not the SHOULD's cast)."""


class TuplesAndKeysFlattened(loads.FlattensContainers, TorchBackend):
    """save() stores a tuple as a list and an int key as its string (a JSON-minded format, silently)."""

    target = "IO-CONTAINER-ROUNDTRIP"


class SaveIgnoresStorageOffset(regions.SaveIgnoresStorageOffset, TorchBackend):
    """``save`` of a view writes its storage from offset 0, dense in the view's dimension order."""


class LoadIgnoresStorageOffset(regions.LoadIgnoresStorageOffset, TorchBackend):
    """``load_state_dict`` copies each source view from the start of its storage, dense in its dimension order."""


class LaterViewSavedFromStorageStart(regions.LaterViewSavedFromStorageStart, TorchBackend):
    """A view saved in a list after another view of its storage is written from the storage's start."""


# --- 4.5 GPUs (what a machine without accelerators still checks) ----------------------------------


class MetaDefaultDevice(TorchBackend):
    """Tensors created without a device land on the 'meta' device."""

    target = "DEV-CPU-DEFAULT"

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> torch.Tensor:
        if device is None:
            device = "meta"
        return super().tensor(array, device, dtype)


class PlacementEquality(TorchBackend):
    """Device objects compare by placement: 'cuda' equals 'cuda:0'."""

    target = "DEV-NAME-EQUALITY"

    def device_equal(self, a: str, b: str) -> bool:
        def resolve(name: str) -> str:
            return name if ":" in name or name == "cpu" else f"{name}:0"

        return resolve(a) == resolve(b)


class PhantomAccelerator(TorchBackend):
    """device_count() reports one accelerator that cannot be used."""

    target = "DEV-COUNT"

    def device_count(self) -> int:
        return torch.cuda.device_count() + 1


def _try_gpu_off_by_one(i: int = 0) -> torch.device:
    if torch.cuda.device_count() >= i:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


class TryGpuOffByOne(TorchBackend):
    """try_gpu(i) tests device_count() >= i instead of >= i + 1."""

    target = "DEV-TRY-GPU"
    blocks = _chapter(try_gpu=_try_gpu_off_by_one)


def _try_all_gpus_without_fallback() -> list[torch.device]:
    return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]


class TryAllGpusNoFallback(TorchBackend):
    """try_all_gpus() returns an empty list instead of [cpu] when there is no GPU."""

    target = "DEV-TRY-ALL-GPUS"
    needs_accelerator = False  # with a GPU present the list it returns is right
    blocks = _chapter(try_all_gpus=_try_all_gpus_without_fallback)
