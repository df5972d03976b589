"""The suite's own float64 computation of an architecture: output, gradients and error bounds.

The oracle is independent of every backend: plain NumPy in float64 on the
values the architecture carries. Alongside each value it propagates a
*magnitude* (the same computation on absolute values), which bounds rounding:
any summation order in a dtype of unit roundoff ``u`` stays within
``gamma(K) * magnitude`` of the exact result, ``gamma(K) = K u / (1 - K u)``,
where ``K`` is at least the number of terms of every sum on the path. That
makes tolerances rigorous instead of guessed, so a correct backend never
fails and an off-by-a-bias backend always does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from conformance import arch as A

Backward = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Evaluation:
    """The oracle's forward result and, after :func:`gradients`, the backward one."""

    output: np.ndarray
    magnitude: np.ndarray
    tolerance: np.ndarray
    ambiguous: bool  # a ReLU input lies within rounding of 0: masks may legitimately differ
    input_grad: np.ndarray | None = None
    input_grad_tolerance: np.ndarray | None = None
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)
    param_grad_tolerances: dict[str, np.ndarray] = field(default_factory=dict)


def unit_roundoff(dtype: str) -> float:
    """Half the distance from 1 to the next representable number in ``dtype``."""
    if dtype == "bfloat16":
        return 2.0**-8
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def underflow(dtype: str) -> float:
    """The largest absolute error of one rounding into ``dtype``'s subnormal range: half its smallest subnormal.

    Rounding below the smallest normal number is absolute, not relative (``u``): it matters in half
    precision, whose smallest normal float16 is about 6e-5, and is negligible in float32 and float64.
    """
    if dtype == "bfloat16":
        return 2.0**-134
    return float(np.finfo(np.dtype(dtype)).smallest_subnormal) / 2


def gamma(terms: int, dtype: str) -> float:
    """The classic rounding-error factor for sums of ``terms`` products."""
    if terms < 0:
        raise ValueError(f"Expected a non-negative number of terms but got terms={terms}")
    nu = terms * unit_roundoff(dtype)
    if nu >= 0.5:
        raise ValueError(f"Expected a sum short enough for {dtype} but got terms={terms}")
    return nu / (1 - nu)


def _linear_values(node: A.Linear | A.MyLinear, layouts: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray | None]:
    """The weight a layer computes with (in its type's chapter layout) and its bias.

    A layer tied by ``weight_of`` computes with its owner's stored array, read in its own
    declared layout (:func:`conformance.arch.weight_in_use`).
    """
    owner = node if node.weight_of is None else node.weight_of
    if node.values is None or owner.values is None:
        bare = node if node.values is None else owner
        raise ValueError(f"Expected explicit values on every layer for the oracle but got {bare!r}")
    bias = None if node.values.bias is None else node.values.bias.astype(np.float64)
    return A.weight_in_use(node, layouts).astype(np.float64), bias


def _terms(node: A.Node, batch: int) -> int:
    """An upper bound on the length of any sum computed through ``node``."""
    total = batch + 4
    for _, sub in A.walk(node):
        if isinstance(sub, A.Linear):
            total += sub.in_features + 2
        elif isinstance(sub, A.MyLinear):
            total += sub.in_units + 2
        elif isinstance(sub, A.Centered):
            total += 2
    return total


class _Run:
    def __init__(self, root: A.Node, batch: int, dtype: str, elements: int, layouts: Mapping[str, str]) -> None:
        self.layouts = layouts
        self.gamma = gamma(_terms(root, batch) + elements, dtype)
        # Each product of a layer's sum may underflow by up to underflow(dtype), absolutely: a floor of
        # that much per term, added to the magnitude as floor / gamma, so 2 * gamma * magnitude covers it.
        self.floor = underflow(dtype) / self.gamma if self.gamma > 0 else 0.0
        self.ambiguous = False
        # by tensor (arch.parameter_key): a weight shared across layers gathers every use's term
        self.grads: dict[tuple[int, str], np.ndarray] = {}
        self.grad_mags: dict[tuple[int, str], np.ndarray] = {}

    def accumulate(self, node: A.Node, leaf: str, value: np.ndarray, magnitude: np.ndarray) -> None:
        # Each use's weight term is turned into the layout its layer stores the array in (the owner's,
        # for a tied layer: one array, one layout), so the terms of every use add directly.
        if leaf == "weight" and isinstance(node, (A.Linear, A.MyLinear)):
            value, magnitude = (
                A.stored_gradient(node, value, self.layouts),
                A.stored_gradient(node, magnitude, self.layouts),
            )
        key = A.parameter_key(node, leaf)
        self.grads[key] = self.grads.get(key, 0.0) + value
        self.grad_mags[key] = self.grad_mags.get(key, 0.0) + magnitude

    def relu(self, x: np.ndarray, xm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mask = x > 0
        near = np.abs(x) <= 2 * self.gamma * xm
        if np.any(near):
            self.ambiguous = True
        # An input within rounding of 0 may come out of the framework's ReLU as its rounding error: its
        # magnitude goes on, so every later bound covers that error (a forward stays rigorous; a gradient
        # through it is still ambiguous, and its checks skip the example). Needed in half precision.
        return x * mask, xm * (mask | near), mask

    def forward(self, node: A.Node, x: np.ndarray, xm: np.ndarray) -> tuple[np.ndarray, np.ndarray, Backward]:
        if isinstance(node, A.Linear):
            weight, bias = _linear_values(node, self.layouts)
            y = x @ weight.T + (0.0 if bias is None else bias)
            ym = xm @ np.abs(weight).T + (0.0 if bias is None else np.abs(bias)) + self.floor * (weight.shape[1] + 2)

            def back_linear(g: np.ndarray, gm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                rows = self.floor * (g.shape[0] + 2)
                self.accumulate(node, "weight", g.T @ x, gm.T @ xm + rows)
                if bias is not None:
                    self.accumulate(node, "bias", g.sum(axis=0), gm.sum(axis=0) + rows)
                return g @ weight, gm @ np.abs(weight) + self.floor * (weight.shape[0] + 2)

            return y, ym, back_linear
        if isinstance(node, A.MyLinear):
            weight, bias = _linear_values(node, self.layouts)
            assert bias is not None
            pre, prem = x @ weight + bias, xm @ np.abs(weight) + np.abs(bias) + self.floor * (weight.shape[0] + 2)
            y, ym, mask = self.relu(pre, prem)

            def back_my_linear(g: np.ndarray, gm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                g, gm = g * mask, gm * mask
                rows = self.floor * (g.shape[0] + 2)
                self.accumulate(node, "weight", x.T @ g, xm.T @ gm + rows)
                self.accumulate(node, "bias", g.sum(axis=0), gm.sum(axis=0) + rows)
                return g @ weight.T, gm @ np.abs(weight).T + self.floor * (weight.shape[1] + 2)

            return y, ym, back_my_linear
        if isinstance(node, A.ReLU):
            y, ym, mask = self.relu(x, xm)
            return y, ym, lambda g, gm: (g * mask, gm * mask)
        if isinstance(node, A.Centered):
            y, ym = x - x.mean(), xm + xm.mean()
            return y, ym, lambda g, gm: (g - g.mean(), gm + gm.mean())
        if isinstance(node, (A.Sequential, A.Block)):
            steps = []
            for _, child in A.children(node):
                x, xm, back = self.forward(child, x, xm)
                steps.append(back)

            def back_chain(g: np.ndarray, gm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                for back in reversed(steps):
                    g, gm = back(g, gm)
                return g, gm

            return x, xm, back_chain
        raise TypeError(f"Expected an architecture node the oracle knows but got {node!r}")


def evaluate(
    root: A.Node,
    x: np.ndarray,
    dtype: str,
    cotangent: np.ndarray | None = None,
    layouts: Mapping[str, str] = A.CHAPTER_LAYOUTS,
) -> Evaluation:
    """Compute ``root`` on ``x`` in float64; with ``cotangent``, also every gradient.

    Gradients are those of ``sum(output * cotangent)``, keyed by the names
    ``named_parameters`` must use (:func:`conformance.arch.parameter_names`),
    each weight's in the layout ``layouts`` gives its layer type (the backend's
    ``weight_layouts``), as the framework holds it. A parameter-level tie
    (``weight_of``) computes each use with the one stored array read in the
    use's own layout, so ``layouts`` changes a tied net's output too.
    """
    x64 = x.astype(np.float64)
    run = _Run(root, x.shape[0] if x.ndim else 1, dtype, x.size, A.check_layouts(layouts))
    y, ym, back = run.forward(root, x64, np.abs(x64))
    tolerance = 2 * run.gamma * ym
    result = Evaluation(y, ym, tolerance, run.ambiguous)
    if cotangent is None:
        return result
    c64 = cotangent.astype(np.float64)
    # The cotangent itself is exact; the output's rounding error, scaled by it,
    # enters every gradient: propagate that with the magnitudes.
    gx, gxm = back(c64, np.abs(c64))
    result.input_grad, result.input_grad_tolerance = gx, 2 * run.gamma * gxm
    named: set[tuple[int, str]] = set()
    for path, node in A.walk(root):
        for leaf, _ in A.leaf_parameters(node):
            key = A.parameter_key(node, leaf)
            if key in named or key not in run.grads:
                continue
            named.add(key)  # named at its first registration path, as named_parameters() lists it
            name = f"{path}.{leaf}" if path else leaf
            result.param_grads[name] = run.grads[key]
            result.param_grad_tolerances[name] = 2 * run.gamma * run.grad_mags[key]
    return result
