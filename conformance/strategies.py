"""Hypothesis strategies for blocks: architectures, nesting, ties, shapes, dtypes.

>>> from conformance import strategies as hh
>>> net = hh.nets(("float32",), ties="siblings").example()  # doctest: +SKIP
"""

from __future__ import annotations

from conformance.kit.strategies import (
    Net,
    batch_sizes,
    float_dtypes,
    input_array,
    inputs,
    linear_values,
    mlps,
    nets,
    raw_arrays,
    seeds,
    tied_linears,
    tied_nets,
    untie,
    widths,
)

__all__ = [
    "Net",
    "batch_sizes",
    "float_dtypes",
    "input_array",
    "inputs",
    "linear_values",
    "mlps",
    "nets",
    "raw_arrays",
    "seeds",
    "tied_linears",
    "tied_nets",
    "untie",
    "widths",
]
