"""Gradients by central finite differences in float64, compared with what
the reference framework's backward pass computes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import reference
from reference import Tensor

from .assertions import assert_close

Array = np.ndarray[Any, Any]


def numeric_gradient(loss: Callable[[list[Array]], float], arrays: list[Array], which: int, eps: float = 1e-6) -> Array:
    """d loss / d arrays[which], one central difference per element."""
    base = arrays[which]
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        original = base[index]
        base[index] = original + eps
        up = loss(arrays)
        base[index] = original - eps
        down = loss(arrays)
        base[index] = original
        grad[index] = (up - down) / (2 * eps)
    return grad


def check_gradients(
    fn: Callable[..., Tensor],
    arrays: Sequence[Array],
    *,
    what: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Compare backward of ``sum(fn(*leaves) * cotangent)`` with finite
    differences, for every input. The cotangent is fixed but not all ones,
    so a wrong reduction or transpose cannot cancel out."""
    __tracebackhide__ = True
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    leaves = [reference.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    cotangent = np.random.default_rng(1).uniform(0.5, 1.5, size=out.shape)
    (out * reference.tensor(cotangent)).sum().backward()

    def loss(values: list[Array]) -> float:
        with reference.no_grad():
            result = fn(*[reference.tensor(v) for v in values])
        return float((result.numpy() * cotangent).sum())

    for i, leaf in enumerate(leaves):
        expected = numeric_gradient(loss, arrays, i)
        observed = None if leaf.grad is None else leaf.grad.numpy()
        if observed is None:
            raise AssertionError(f"{what}: input {i} got no gradient; expected {expected!r}")
        assert_close(observed, expected, what=f"{what}: gradient of input {i}", rtol=rtol, atol=atol)
