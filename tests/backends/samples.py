"""What the adapter tests of several frameworks build and expect: values, Linear nodes, gradients by hand."""

from __future__ import annotations

import numpy as np

from conformance import arch as A


def values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Standard normal float32 values, the same for the same seed."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def linear(in_features: int, out_features: int, seed: int, bias: bool = True) -> A.Linear:
    """A Linear node with explicit values, weight (out, in) in the chapter's layout."""
    drawn = A.LinearValues(values((out_features, in_features), seed), values((out_features,), seed + 1))
    return A.Linear(in_features, out_features, bias, drawn if bias else A.LinearValues(drawn.weight, None))


def shared_layer_gradients(
    first: A.Linear, shared: A.Linear, x: np.ndarray, c: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The gradients of ``sum(c * net(x))`` for ``Sequential(first, shared, shared)``, worked by hand.

    Weights' gradients are given (in, out), the layout Flax and Keras store them in: the transpose of the
    chapter's (out, in). Returns the parameters' gradients by name and the input's.
    """
    assert first.values is not None and shared.values is not None and first.values.bias is not None
    assert shared.values.bias is not None
    (w0, b0), (s, sb) = (first.values.weight, first.values.bias), (shared.values.weight, shared.values.bias)
    h0 = x @ w0.T + b0
    h1 = h0 @ s.T + sb
    dh1 = c @ s
    dh0 = dh1 @ s
    params = {
        "0.weight": (dh0.T @ x).T,
        "0.bias": dh0.sum(0),
        "1.weight": (c.T @ h1 + dh1.T @ h0).T,  # both uses add up
        "1.bias": c.sum(0) + dh1.sum(0),
    }
    return params, dh0 @ w0
