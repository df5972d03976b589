"""Hypothesis strategies for blocks: architectures, nesting, ties, shapes, dtypes.

>>> from conformance import strategies as hh
>>> net = hh.nets(("float32",), ties="siblings").example()  # doctest: +SKIP
"""

from __future__ import annotations

from conformance.kit.strategies import (
    RARE,
    REACH,
    Net,
    Palette,
    Reach,
    active_palette,
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
    palette_for,
    rare_large,
    raw_arrays,
    seeds,
    sizes,
    tied_linears,
    tied_nets,
    tied_sequences,
    untie,
    use_palette,
    widths,
)

__all__ = [
    "RARE",
    "REACH",
    "Net",
    "Palette",
    "Reach",
    "active_palette",
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
    "palette_for",
    "rare_large",
    "raw_arrays",
    "seeds",
    "sizes",
    "tied_linears",
    "tied_nets",
    "tied_sequences",
    "untie",
    "use_palette",
    "widths",
]
