"""Hypothesis strategies for blocks: architectures, nesting, ties, shapes, dtypes.

>>> from conformance import strategies as hh
>>> net = hh.nets(("float32",), ties="siblings").example()  # doctest: +SKIP
"""

from __future__ import annotations

from conformance.kit.strategies import (
    RARE,
    REACH,
    Net,
    Reach,
    backward_passes,
    batch_sizes,
    boundary_array,
    container_sizes,
    float_dtypes,
    input_array,
    inputs,
    io_containers,
    linear_values,
    mlps,
    nets,
    rare_large,
    raw_arrays,
    seeds,
    tied_linears,
    tied_nets,
    tied_sequences,
    untie,
    widths,
)

__all__ = [
    "RARE",
    "REACH",
    "Net",
    "Reach",
    "backward_passes",
    "batch_sizes",
    "boundary_array",
    "container_sizes",
    "float_dtypes",
    "input_array",
    "inputs",
    "io_containers",
    "linear_values",
    "mlps",
    "nets",
    "rare_large",
    "raw_arrays",
    "seeds",
    "tied_linears",
    "tied_nets",
    "tied_sequences",
    "untie",
    "widths",
]
