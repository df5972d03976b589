"""Strategies added by the reach audit (issue 21): input rank, wide batches, drawn rows and dtypes.

New dimensions live here, apart from :mod:`conformance.kit.strategies`, with
their documented range in :data:`MORE_REACH` (same :class:`Reach` record as
``REACH``); ``tests/test_reach_audit.py`` samples each strategy and holds it to
its row, and ``conformance.kit.reach`` reports them clause by clause.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
from hypothesis import strategies as st

from conformance.kit.strategies import RARE, Net, Reach, input_array, rare_large, seeds, sizes

#: The common batch sizes (the top of ``REACH["batch"]``) and the rare large ones: not a multiple of 8 above.
COMMON_BATCH = 8
LARGE_BATCH = 300
#: Extra leading dimensions of an input after the batch: each 1 to MAX_LEADING.
MAX_LEADING = 4

MORE_REACH: Mapping[str, Reach] = {
    # rank of an input to a layer that acts on its last dimension: 1 (a vector) to 4
    "input_rank": Reach("ranked_inputs", 1, 4, (1, 2, 3, 4)),
    # rows of a forward input: 1..8 commonly, 9..300 one draw in RARE
    "wide_batch": Reach("wide_batches", 1, LARGE_BATCH, (1, COMMON_BATCH, 200)),
    # widths() as most single-layer tests call it (REACH["width"] is mlps', which goes to 256 rarely)
    "layer_width": Reach("widths()", 1, 12, (1, 12)),
    # widths(64), the initializer clauses' fans: 64 itself only when drawn freely; a palette
    # (--shapes palette) keeps a range's top only up to COMMON_TOP, so there they stop at 12
    "fan": Reach("widths(64)", 1, 64, (1, 12)),
}


def wide_batches() -> st.SearchStrategy[int]:
    """A batch of 1 to 8 mostly, of 9 to 300 one draw in :data:`RARE` (shrinks to the common sizes)."""
    return rare_large(sizes(1, COMMON_BATCH), sizes(COMMON_BATCH + 1, LARGE_BATCH))


@functools.lru_cache
def input_ranks(min_rank: int = 1) -> st.SearchStrategy[int]:
    """An input rank: 2 (a batch of rows) as the shrink target, then 1 (from ``min_rank``), 3 and 4."""
    return st.sampled_from([r for r in (2, 1, 3, 4) if r >= min_rank])


#: The highest input rank drawn.
MAX_RANK = 4


@st.composite
def leading_shapes(draw: st.DrawFn, min_rank: int = 1, rank: int | None = None) -> tuple[int, ...]:
    """The dimensions before the last one: () for a vector, (batch,) for a matrix, (batch, d, ...) up to rank 4.

    ``min_rank`` is the lowest rank the backend's layers accept (``min_input_rank``: 2 for Keras);
    ``rank`` fixes the rank (a test that checks every rank in each example), else it is drawn.
    """
    if rank is None:
        rank = draw(input_ranks(min_rank), label="input rank")
    if rank == 1:
        return ()
    batch = draw(wide_batches(), label="batch")
    # a large batch keeps its other leading dimensions small, so its cost stays that of a wide matrix
    top = 1 if batch > COMMON_BATCH else MAX_LEADING
    rest = tuple(draw(st.lists(sizes(1, top), min_size=rank - 2, max_size=rank - 2), label="more leading dimensions"))
    return (batch, *rest)


@st.composite
def ranked_inputs(draw: st.DrawFn, net: Net, min_rank: int = 1, rank: int | None = None) -> np.ndarray:
    """An input for ``net`` of rank ``rank``, or of a drawn rank from ``min_rank`` (1 or 2) to 4 (its width
    last), with drawn batch, seed and scale."""
    lead = draw(leading_shapes(min_rank, rank), label="leading dimensions")
    seed = draw(seeds(), label="input seed")
    scale = draw(st.sampled_from([1.0, 0.01, 100.0]), label="input scale")
    return input_array(seed, (*lead, net.in_width), net.dtype, scale)


@st.composite
def batch_inputs(draw: st.DrawFn, net: Net) -> np.ndarray:
    """A matrix input for ``net`` (the gradient clauses' rank): 1 to 8 rows mostly, up to 300 rarely."""
    batch = draw(wide_batches(), label="batch")
    seed = draw(seeds(), label="input seed")
    scale = draw(st.sampled_from([1.0, 0.01, 100.0]), label="input scale")
    return input_array(seed, (batch, net.in_width), net.dtype, scale)


__all__ = [
    "MAX_RANK",
    "MORE_REACH",
    "RARE",
    "batch_inputs",
    "input_ranks",
    "leading_shapes",
    "ranked_inputs",
    "wide_batches",
]
