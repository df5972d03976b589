"""Clauses about gradients: every trainable parameter gets one, and each is right.

MOD-GRAD-CORRECT compares the autograd directional derivative with one-sided
finite differences, Richardson-extrapolated (``2 D(h/2) - D(h)``), on each
side of the point whose activation pattern (where every ReLU, max-pool,
clamp, comparison... falls) is the point's own: a kink inside a step is seen,
never counted. The direction is drawn per tensor and scaled to about unit
norm, so a network of millions of parameters moves as little as a small one.
When both sides cross a kink the point is drawn again nearer (the step
divided by ``RETRY_SHRINK``, ``RETRIES`` times); a direction still undecided
clears the example, as one that agrees does. An example is a violation when
all ``DIRECTIONS`` directions disagree; the tensors at fault are then found
by bisection within ``FAULT_CHECKS`` comparisons.

Every number the clause statement names is defined here, once; a test reads
them against the statement text (spec/clauses/module-contract.toml).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.kit.outcomes import not_applicable
from conformance.modules import _inputs as I
from conformance.modules._behaviour import violation
from conformance.modules._inspect import grad_cutting_hints, seeded
from conformance.modules._subject import ModuleSubject

if TYPE_CHECKING:
    import torch

#: The finite-difference step h (float64, along a direction of about unit norm per tensor).
STEP = 1e-5
#: The bound: RTOL times the sum of the absolute terms of the directional derivative, plus ATOL times the
#: sum of the absolute weighted outputs (float64 rounding of the loss, amplified by the step).
RTOL = 1e-4
ATOL = 1e-6
#: Random directions per example; one that agrees (or that no clean side decides) clears the example.
DIRECTIONS = 3
#: Nearer points tried along a direction whose both sides cross a kink, each step divided by RETRY_SHRINK.
RETRIES = 3
RETRY_SHRINK = 8
#: Examples MOD-GRAD-CORRECT draws at most, whatever the profile: each costs a backward and several forwards.
EXAMPLES = 10
#: The most comparisons the search for the tensor at fault makes (bisection over the tensors).
FAULT_CHECKS = 16


def _weights(outputs: list[tuple[str, torch.Tensor]], seed: int) -> list[torch.Tensor]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t) for _, t in outputs]


def _loss(outputs: list[tuple[str, torch.Tensor]], weights: list[torch.Tensor]) -> torch.Tensor:
    import torch

    total = torch.zeros((), dtype=torch.float64, device=weights[0].device if weights else "cpu")
    for (_, t), w in zip(outputs, weights, strict=True):
        total = total + (t.double() * w.double()).sum()
    return total


# --- MOD-GRAD-REACHES ---------------------------------------------------------------------------------


def check_grad_reaches(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data) as seed:
        module = subject.build().train()
        trainable = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not trainable:
            not_applicable("the module has no trainable parameter")
        inputs = I.draw_inputs(data, subject, min_batch=2)
        outputs = I.floating(I.call(module, inputs))
        if not any(t.requires_grad for _, t in outputs):
            raise violation(
                check,
                "output of a train-mode forward",
                "no floating output requires grad",
                f"outputs that require grad ({len(trainable)} trainable parameter(s))",
                _cause(module),
            )
        live = [(p, t) for p, t in outputs if t.requires_grad]
        _loss(live, _weights(live, seed)).backward()  # type: ignore[no-untyped-call]
    cut = [name for name, p in trainable if p.grad is None]
    if cut:
        raise violation(
            check,
            "gradients after backward of a train-mode loss",
            f"{len(cut)} of {len(trainable)} trainable parameter(s) got no gradient: {', '.join(cut[:6])}",
            "a gradient (possibly zero) for every trainable parameter",
            _cause(module),
        )


def _cause(module: torch.nn.Module) -> str:
    hints = grad_cutting_hints(module)
    common = "use the parameter itself in forward, not .data or .detach(), and no torch.no_grad() around it"
    return (f"{'; '.join(hints)}: " if hints else "") + common


# --- MOD-GRAD-CORRECT ---------------------------------------------------------------------------------

#: Elementwise ops with a kink: where each element passes its first input through (relu: x > 0) is its pattern.
_PASS_THROUGH = frozenset(
    [
        "relu",
        "relu6",
        "leaky_relu",
        "hardtanh",
        "clamp",
        "clamp_min",
        "clamp_max",
        "threshold",
        "abs",
        "elu",
        "celu",
        "selu",
        "hardswish",
        "hardsigmoid",
        "maximum",
        "minimum",
        "fmax",
        "fmin",
        "hardshrink",
        "softshrink",
        "rrelu_with_noise",
    ]
)
#: Piecewise-constant ops: their output itself is the pattern.
_STEPWISE = frozenset(["sign", "sgn", "floor", "ceil", "round", "trunc", "frac", "heaviside"])


def _op_name(func: Any) -> str:
    """``aten.relu_.default`` -> ``relu_``."""
    return str(func).split(".")[1] if str(func).count(".") >= 1 else str(func)


@contextmanager
def _patterns(found: list[bytes]) -> Iterator[None]:
    """Append to ``found`` a fingerprint of where each kink of the forward lies: the activation pattern.

    Every non-floating output (comparisons, max-pool and sort indices, argmax) is part of it, as are
    which elements an elementwise kink passes through and the outputs of piecewise-constant ops.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    def fingerprint(t: torch.Tensor) -> bytes:
        return t.detach().to("cpu").numpy().tobytes()  # integer or bool: numpy reads any strides

    class _Mode(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            name = _op_name(func)
            inplace, name = name.endswith("_"), name.rstrip("_")
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            before = first.clone() if first is not None and inplace and name in _PASS_THROUGH else first
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, tuple | list) else (out,):
                if isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex():
                    found.append(fingerprint(t.bool() if t.dtype == torch.bool else t))
            if isinstance(out, torch.Tensor) and before is not None and out.shape == before.shape:
                if name in _PASS_THROUGH:
                    found.append(fingerprint(out == before))
                elif name in _STEPWISE:
                    found.append(fingerprint(out))
            return out

    with _Mode():  # type: ignore[no-untyped-call]
        yield


def _fixed_by_design(module: torch.nn.Module) -> dict[int, torch.Tensor]:
    """Masks (0 where held fixed) of parameter entries whose gradient autograd defines as zero by design.

    The row ``padding_idx`` of an ``nn.Embedding`` or ``nn.EmbeddingBag`` weight gets a zero gradient
    (documented), though forward reads it: finite differences would see that dependence.
    """
    import torch

    masks: dict[int, torch.Tensor] = {}
    for m in module.modules():
        index = getattr(m, "padding_idx", None)
        weight = getattr(m, "weight", None)
        if isinstance(m, torch.nn.Embedding | torch.nn.EmbeddingBag) and index is not None and weight is not None:
            mask = masks.setdefault(id(weight), torch.ones_like(weight, dtype=torch.float64))
            mask[index] = 0.0
    return masks


def custom_functions(loss: torch.Tensor) -> list[str]:
    """Names of the custom ``autograd.Function`` classes in the graph of ``loss`` (their backward nodes)."""
    seen: set[int] = set()
    found: list[str] = []
    stack = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        forward_class = getattr(node, "_forward_cls", None)
        if forward_class is not None and forward_class.__name__ not in found:
            found.append(forward_class.__name__)
        stack.extend(n for n, _ in node.next_functions)
    return found


@dataclass(frozen=True)
class _Agreement:
    """One direction's comparison: ``agrees`` None when no side of the point kept its activation pattern."""

    agrees: bool | None
    analytic: float
    numeric: float
    bound: float


def _float64_point(
    subject: ModuleSubject, data: st.DataObject
) -> tuple[Any, Any, list[tuple[str, Any]], list[tuple[str, Any]]]:
    """The module in float64 and eval mode, drawn inputs made float64 leaves, its trainable parameters, and every
    leaf to differentiate (floating inputs, then those parameters); not applicable when there is none."""
    module = subject.build().double().eval()
    params = [(f"parameter {n}", p) for n, p in module.named_parameters() if p.requires_grad]
    drawn = I.draw_inputs(data, subject)
    inputs = I.map_tensors(drawn, lambda t: t.detach().double().requires_grad_() if t.is_floating_point() else t)
    leaves = [(p, t) for p, t in I.input_tensors(inputs) if t.requires_grad] + params
    if not leaves:
        not_applicable("neither a floating input nor a trainable parameter to differentiate")
    return module, inputs, params, leaves


def check_grad_correct(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    with seeded(data) as seed:
        module, inputs, params, leaves = _float64_point(subject, data)
        outputs = I.floating(I.call(module, inputs))
        if not outputs:
            not_applicable("the module has no floating output")
        weights = _weights(outputs, seed)
        loss = _loss(outputs, weights)
        if not loss.requires_grad:
            not_applicable("the output does not depend on a differentiable tensor")
        functions = custom_functions(loss)
        raw = torch.autograd.grad(loss, [t for _, t in leaves], allow_unused=True)
        grads = [
            torch.zeros_like(t) if g is None else (g.to_dense() if g.is_sparse else g)
            for g, (_, t) in zip(raw, leaves, strict=True)
        ]
        with torch.no_grad():
            terms = float(
                sum((t.detach().double() * w).abs().sum() for (_, t), w in zip(outputs, weights, strict=True))
            )
        fixed = _fixed_by_design(module)
        generator = torch.Generator().manual_seed(seed + 1)
        n_inputs = len(leaves) - len(params)
        originals = [p.detach().clone() for _, p in params]

        def at(directions: list[torch.Tensor], h: float) -> tuple[float, bytes]:
            """The loss and the activation pattern at the point moved by ``h`` along ``directions``."""
            found: list[bytes] = []
            with torch.no_grad():
                for (_, p), v in zip(params, directions[n_inputs:], strict=True):
                    p.add_(v, alpha=h)
                shifted = iter(directions)
                moved = I.map_tensors(inputs, lambda t: (t + h * next(shifted)) if t.requires_grad else t)
                try:
                    with _patterns(found):
                        value = float(_loss(I.floating(I.call(module, moved)), weights))
                finally:
                    for (_, p), o in zip(params, originals, strict=True):
                        p.copy_(o)
            return value, hashlib.sha1(b"".join(found)).digest()

        point: list[tuple[float, bytes]] = []  # the loss and pattern at the point itself, computed once

        def compare(directions: list[torch.Tensor]) -> _Agreement:
            analytic = float(sum((g * v).sum() for g, v in zip(grads, directions, strict=True)))
            scale = float(sum((g * v).abs().sum() for g, v in zip(grads, directions, strict=True)))
            bound = RTOL * scale + ATOL * terms
            step = STEP
            if not point:
                point.append(at(directions, 0.0))
            base, pattern = point[0]
            for _ in range(RETRIES):
                sides = []
                for sign in (1.0, -1.0):
                    far, far_pattern = at(directions, sign * step)
                    if far_pattern != pattern:
                        continue  # a kink inside this side's step
                    near, near_pattern = at(directions, sign * step / 2)
                    if near_pattern != pattern:
                        continue
                    sides.append(2 * (near - base) / (sign * step / 2) - (far - base) / (sign * step))
                    if abs(sides[-1] - analytic) <= bound:  # one clean side that agrees decides
                        return _Agreement(True, analytic, sides[-1], bound)
                if sides:
                    return _Agreement(False, analytic, sides[0], bound)
                step /= RETRY_SHRINK  # a kink on both sides: a nearer point along the same line
            return _Agreement(None, analytic, math.nan, bound)

        def direction(only: Sequence[int] | None = None) -> list[torch.Tensor]:
            out = []
            for i, (_, t) in enumerate(leaves):
                v = torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.device)
                v = v / math.sqrt(max(t.numel(), 1))  # a step per tensor: each tensor moves by about h in norm
                mask = fixed.get(id(t))
                if mask is not None:
                    v = v * mask
                out.append(v if only is None or i in only else torch.zeros_like(v))
            return out

        results = []
        for _ in range(DIRECTIONS):  # one agreeing (or undecidable) direction clears the example
            results.append(compare(direction()))
            if results[-1].agrees is not False:
                return
        at_fault, searched = _search_fault(len(leaves), lambda group: compare(direction(group)).agrees is False)
    first = results[0]
    names = ", ".join(leaves[i][0] for i in at_fault) or "the tensors together"
    cut = "" if searched else f" (search stopped after {FAULT_CHECKS} checks)"
    raise violation(
        check,
        "directional derivative of a weighted output sum (float64, eval mode)",
        f"autograd {first.analytic:.6g}, finite differences {first.numeric:.6g} (bound {first.bound:.3g}) in all "
        f"{DIRECTIONS} directions; wrong gradient for: {names}{cut}",
        "agreement within the bound",
        _fault_hint(functions),
    )


def _search_fault(count: int, disagrees: Callable[[list[int]], bool]) -> tuple[list[int], bool]:
    """The tensors at fault, by bisection over the leaves, within ``FAULT_CHECKS`` checks; and whether it finished."""
    found: list[int] = []
    pending = [list(range(count))]
    checks = 0
    while pending:
        group = pending.pop(0)
        if len(group) == 1:
            found.append(group[0])
            continue
        half = len(group) // 2
        for part in (group[:half], group[half:]):
            if checks >= FAULT_CHECKS:
                return sorted(found), False
            checks += 1
            if disagrees(part):
                pending.append(part)
    return sorted(found), True


def _fault_hint(functions: list[str]) -> str:
    if functions:
        return f"check the backward of the custom autograd.Function(s) in the graph: {', '.join(functions)}"
    return (
        "no custom autograd.Function is in the graph: check ops with their own autograd formula "
        "(torch.library.register_autograd, C++/CUDA extensions)"
    )


# --- MOD-GRADGRAD -------------------------------------------------------------------------------------

#: Examples MOD-GRADGRAD draws at most, whatever the profile: each costs a double backward and several backwards
#: (a ResNet-18 took 229 s for 5 on the loaded 2-core machine); a wrong double backward shows on every example.
GRADGRAD_EXAMPLES = 3
#: What torch raises when a backward is by design once differentiable (the clause is then not applicable).
ONCE_DIFFERENTIABLE = (
    "marked with @once_differentiable",
    "backward through the graph a second time",
    "is not implemented",
    "double backward",
    "does not support double backward",
)


def check_gradgrad(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    """The derivative of the gradient (a Hessian-vector product) against finite differences of the gradient."""
    import torch

    with seeded(data) as seed:
        module, inputs, params, leaves = _float64_point(subject, data)
        found: list[bytes] = []  # the activation pattern at the point itself, from the first forward
        with _patterns(found):
            outputs = I.floating(I.call(module, inputs))
        if not outputs:
            not_applicable("the module has no floating output")
        weights = _weights(outputs, seed)
        loss = _loss(outputs, weights)
        if not loss.requires_grad:
            not_applicable("the output does not depend on a differentiable tensor")
        functions = custom_functions(loss)
        once = once_differentiable_functions(loss)
        if once:
            not_applicable(
                f"the backward of {', '.join(once)} is marked @once_differentiable: once differentiable by design"
            )
        tensors = [t for _, t in leaves]
        generator = torch.Generator().manual_seed(seed + 2)
        cotangents = [torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.device) for t in tensors]
        fixed = _fixed_by_design(module)

        def contracted(grads: Sequence[torch.Tensor | None]) -> torch.Tensor:
            """s = <c, g>: the gradient contracted with fixed random cotangents (its derivative is H c)."""
            total = torch.zeros((), dtype=torch.float64)
            for g, c, t in zip(grads, cotangents, tensors, strict=True):
                if g is not None:
                    mask = fixed.get(id(t))
                    total = total + ((g.to_dense() if g.is_sparse else g) * c * (1 if mask is None else mask)).sum()
            return total

        try:
            first = torch.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
            s = contracted(first)
            second: Sequence[torch.Tensor | None] = (
                torch.autograd.grad(s, tensors, allow_unused=True) if s.requires_grad else [None] * len(tensors)
            )
        except RuntimeError as exc:
            text = str(exc)
            if any(m in text for m in ONCE_DIFFERENTIABLE):
                not_applicable(f"torch gives this backward no second derivative: {text.splitlines()[0][:300]}")
            raise
        hessian = [torch.zeros_like(t) if h is None else h for h, t in zip(second, tensors, strict=True)]
        with torch.no_grad():
            terms = float(sum((g * c).abs().sum() for g, c in zip(first, cotangents, strict=True) if g is not None))
        n_inputs = len(leaves) - len(params)
        originals = [p.detach().clone() for _, p in params]

        def at(directions: list[torch.Tensor], h: float) -> tuple[float, bytes]:
            """s and the activation pattern at the point moved by ``h`` along ``directions``."""
            found: list[bytes] = []
            with torch.no_grad():
                for (_, p), v in zip(params, directions[n_inputs:], strict=True):
                    p.add_(v, alpha=h)
            shifted = iter(directions)
            moved = I.map_tensors(
                inputs, lambda t: (t.detach() + h * next(shifted)).requires_grad_() if t.requires_grad else t
            )
            moved_leaves = [t for _, t in I.input_tensors(moved) if t.requires_grad] + [p for _, p in params]
            try:
                with _patterns(found):
                    value = _loss(I.floating(I.call(module, moved)), weights)
                grads = torch.autograd.grad(value, moved_leaves, allow_unused=True)
                result = float(contracted(grads))
            finally:
                with torch.no_grad():
                    for (_, p), o in zip(params, originals, strict=True):
                        p.copy_(o)
            return result, hashlib.sha1(b"".join(found)).digest()

        base = float(s.detach()), hashlib.sha1(b"".join(found)).digest()

        def compare(directions: list[torch.Tensor]) -> _Agreement:
            analytic = float(sum((hv * v).sum() for hv, v in zip(hessian, directions, strict=True)))
            scale = float(sum((hv * v).abs().sum() for hv, v in zip(hessian, directions, strict=True)))
            bound = RTOL * scale + ATOL * terms
            step = STEP
            value, pattern = base
            for _ in range(RETRIES):
                sides = []
                for sign in (1.0, -1.0):
                    far, far_pattern = at(directions, sign * step)
                    if far_pattern != pattern:
                        continue
                    near, near_pattern = at(directions, sign * step / 2)
                    if near_pattern != pattern:
                        continue
                    sides.append(2 * (near - value) / (sign * step / 2) - (far - value) / (sign * step))
                    if abs(sides[-1] - analytic) <= bound:
                        return _Agreement(True, analytic, sides[-1], bound)
                if sides:
                    return _Agreement(False, analytic, sides[0], bound)
                step /= RETRY_SHRINK
            return _Agreement(None, analytic, math.nan, bound)

        def direction() -> list[torch.Tensor]:
            out = []
            for t in tensors:
                v = torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.device)
                v = v / math.sqrt(max(t.numel(), 1))
                mask = fixed.get(id(t))
                out.append(v if mask is None else v * mask)
            return out

        results = []
        for _ in range(DIRECTIONS):
            results.append(compare(direction()))
            if results[-1].agrees is not False:
                return
    worst = results[0]
    raise violation(
        check,
        "derivative of the gradient along a direction (float64, eval mode): <c, H v> for a drawn cotangent c",
        f"double backward {worst.analytic:.6g}, finite differences of the gradient {worst.numeric:.6g} "
        f"(bound {worst.bound:.3g}) in all {DIRECTIONS} directions",
        "agreement within the bound",
        _gradgrad_hint(functions),
    )


def once_differentiable_functions(loss: torch.Tensor) -> list[str]:
    """Names of the custom ``autograd.Function`` classes in the graph whose backward is ``@once_differentiable``.

    torch raises on their second derivative only when the incoming gradient requires grad; otherwise the
    second derivative through them is silently zero, so they are found here, from the graph.
    """
    seen: set[int] = set()
    found: list[str] = []
    stack = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        cls = getattr(node, "_forward_cls", None)
        code = getattr(getattr(cls, "backward", None), "__code__", None)
        if cls is not None and "once_differentiable" in getattr(code, "co_qualname", "") and cls.__name__ not in found:
            found.append(cls.__name__)
        stack.extend(n for n, _ in node.next_functions)
    return found


def _gradgrad_hint(functions: list[str]) -> str:
    where = f" ({', '.join(functions)})" if functions else ""
    return (
        f"write the backward of each custom autograd.Function{where} with differentiable torch ops on saved "
        "inputs (not on values computed in forward, which carry no graph), or mark it "
        "@torch.autograd.function.once_differentiable so a second derivative raises instead of being wrong"
    )
