"""Strategies added by the reach audit (issue 21): input rank, wide batches, drawn rows and dtypes.

New dimensions live here, apart from :mod:`conformance.kit.strategies`, with
their documented range in :data:`MORE_REACH` (same :class:`Reach` record as
``REACH``); ``tests/kit/test_reach.py`` samples each strategy and holds it to
its row, and ``conformance.kit.reach`` reports them clause by clause.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from conformance import arch as A
from conformance._protocol import LAYOUTS
from conformance.kit.stats import neighbours
from conformance.kit.strategies import RARE, REACH, Net, Reach, input_array, linear_values, rare_large, seeds, sizes

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
    # widths of a half-precision MLP (half_mlps): small, so the oracle's rounding bound stays tight
    "half_width": Reach("half_mlps", 1, 8, (1, 8)),
    # elements before the last dimension of a half-precision input (half_leading_shapes), rank 1 to 4
    "half_rows": Reach("half_leading_shapes", 1, 4, (1, 4)),
    # binary exponent of a special constant_ argument (special_constants, float64): 0 (the zeros), the
    # smallest subnormal's (-1074) and the largest finite value's (1023) among them
    "init_constant": Reach("special_constants", -1074, 1023, (-1074, 0, 1023)),
    # binary exponent of a special normal_ std (normal_arguments, float64; 0 for std 0): a subnormal
    # (2**-1070), and the largest a finite sample allows (the dtype's largest over 64: 2**1017)
    "init_normal": Reach("normal_arguments", -1070, 1017, (-1070, 0, 1017)),
    # dtype conversions of one module in a row (conversion_chains): 1 to 3 drawn, then back to where it began
    "conversions": Reach("conversion_chains", 2, 4, (2, 4)),
    # moves of one module in a row (device_routes): to the run's accelerator, then 0 to 3 more
    "moves": Reach("device_routes", 1, 4, (1, 4)),
    # simulated accelerators (device-count-control): 0..3 as drawn before, and 4..16 in each example too
    "device_count": Reach("device_counts, many_devices", 0, 16, (0, 3, 5, 16)),
}

#: Every dimension with a reach record: the tree and count dimensions of ``REACH`` and the ones above. A
#: mutant's ``region`` names one of them; the kill matrix runs such a mutant at the ci profile.
ALL_REACH: Mapping[str, Reach] = {**REACH, **MORE_REACH}

#: The half-precision dtypes: a forward, gradient or initializer clause draws each one its backend
#: builds modules in (its ``float_dtypes``), beside float32 and float64.
HALF_DTYPES = ("float16", "bfloat16")
#: The widest layer and the most rows (elements before the last dimension) of a half-precision draw:
#: the oracle's bound is gamma(K) with K the terms of every sum on the path plus the input's elements,
#: K <= 4 + 4 + 2 * (8 + 2) + 4 * 8 = 60, so bfloat16's bound (unit roundoff 2**-8) stays below 0.7 of
#: the magnitude and float16's (2**-11) below 0.07.
HALF_MAX_WIDTH = 8
HALF_MAX_ROWS = 4


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


#: The largest finite value of each float dtype (NumPy has no bfloat16: 0x7F7F as a float32).
FINITE_MAX = {
    "float16": 65504.0,
    "bfloat16": float(np.array([0x7F7F0000], dtype=np.uint32).view(np.float32)[0]),
    "float32": float(np.finfo(np.float32).max),
    "float64": float(np.finfo(np.float64).max),
}
#: The smallest positive normal and subnormal value of each float dtype.
SMALLEST = {
    "float16": (2.0**-14, 2.0**-24),
    "bfloat16": (2.0**-126, 2.0**-133),
    "float32": (2.0**-126, 2.0**-149),
    "float64": (2.0**-1022, 2.0**-1074),
}
#: An ordinary constant_ argument stays within this (the range drawn before issue 21).
ORDINARY_CONSTANT = 1e6


def init_dtypes(float_dtypes: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A dtype to build a layer in for an initializer clause: float32 or float64, or a declared half dtype."""
    usable = tuple(d for d in ("float32", "float64", *HALF_DTYPES) if d in float_dtypes)
    if not usable:
        raise ValueError(f"Expected float32 or float64 among the backend's float dtypes but got {float_dtypes!r}")
    return st.sampled_from(usable)


def _arguments_width(dtype: str) -> Literal[32, 64]:
    # a half-precision fill converts its argument through float32 in every framework (c10::Half(float)):
    # a float32 argument keeps "rounded once to w's dtype" exact there
    return 32 if dtype in HALF_DTYPES else 64


@functools.lru_cache
def ordinary_constants(dtype: str) -> st.SearchStrategy[float]:
    """A constant_ argument as drawn before issue 21: within +-1e6 (and the dtype's range), no subnormal."""
    top = min(ORDINARY_CONSTANT, FINITE_MAX[dtype])
    return st.floats(-top, top, allow_nan=False, allow_subnormal=False, width=_arguments_width(dtype))


@functools.lru_cache
def special_constants(dtype: str) -> st.SearchStrategy[float]:
    """A special constant_ argument for a tensor of ``dtype``: a zero of either sign, the largest finite value,
    the smallest normal and subnormal, 2**31 and 2**53 (integer boundaries), each of either sign, or any
    finite value of the dtype's range (subnormals included). A value past the dtype's largest is left out:
    the framework may refuse it (torch: "value cannot be converted ... without overflow")."""
    top = FINITE_MAX[dtype]
    normal, subnormal = SMALLEST[dtype]
    magnitudes = [top, normal, subnormal, 2.0**31, 2.0**31 + 1, 2.0**53, 1e6 + 1]
    specials = [0.0, -0.0] + [s * m for m in magnitudes if m <= top for s in (1.0, -1.0)]
    return st.one_of(st.sampled_from(specials), st.floats(-top, top, allow_nan=False, width=_arguments_width(dtype)))


#: Mean and std of ``normal_`` as INIT-NORMAL draws them: within every dtype's ordinary range.
ORDINARY_MEANS = (0.0, 0.5, -3.0)
ORDINARY_STDS = (0.0, 0.01, 1.0, 2.5)
#: A coarse normal's mean, and its std in units in the last place of the mean in w's dtype.
COARSE_MEANS = (-3.0, 0.5, 1000.0)
COARSE_ULPS = (1, 4)


def _ulp(value: float, dtype: str) -> float:
    """The step from ``value`` to the next ``dtype`` value up."""
    return float(neighbours(np.array([value]), dtype)[1][0] - value)


@functools.lru_cache
def ordinary_normal_arguments(dtype: str) -> st.SearchStrategy[tuple[float, float]]:
    """(mean, std) of an ordinary ``normal_`` call on a tensor of ``dtype``: a few fixed values, std 0 (the
    point mass) on its own, or a coarse normal, whose std is 1 or 4 units in the last place of its mean:
    there a rounding error of the fill shows in the distribution. Coarse three times in four for a half
    dtype, whose units are largest, once in three otherwise; std 0 a branch of its own, since a fill that
    takes 0 for "no std given" is right for every other std (it was reached only by luck of the draws)."""
    plain = st.tuples(st.sampled_from(ORDINARY_MEANS), st.sampled_from(ORDINARY_STDS))
    point = st.tuples(st.sampled_from(ORDINARY_MEANS), st.just(0.0))
    coarse = st.sampled_from(tuple((m, k * _ulp(m, dtype)) for m in COARSE_MEANS for k in COARSE_ULPS))
    kinds = {"coarse": coarse, "plain": plain, "point": point}
    weights = ("coarse",) * 6 + ("plain", "point") if dtype in HALF_DTYPES else ("coarse", "plain", "point")
    return st.sampled_from(weights).flatmap(kinds.__getitem__)


def _power_below(value: float) -> float:
    """The largest power of two not above ``value`` (log2 rounds up just under a power of two)."""
    power = 2.0 ** math.floor(math.log2(value))
    return power / 2 if power > value else power


@functools.lru_cache
def normal_arguments(dtype: str) -> st.SearchStrategy[tuple[float, float]]:
    """(mean, std) of a special ``normal_`` call on a tensor of ``dtype``: std 0, a subnormal (16 steps of the
    smallest), the smallest normal, or the largest power of two under the dtype's largest over 64; mean 0,
    +-1, or +-the largest power of two under its largest over 4. Powers of two scale exactly, and every
    sample (within 40 std of the mean) stays finite."""
    top = FINITE_MAX[dtype]
    normal, subnormal = SMALLEST[dtype]
    big = _power_below(top / 4)
    means = st.sampled_from((0.0, 1.0, -1.0, big, -big))
    stds = st.sampled_from((0.0, subnormal * 16, normal, _power_below(top / 64)))
    return st.tuples(means, stds)


def constant_in(value: float, dtype: str) -> np.ndarray:
    """``value`` rounded once to ``dtype`` (bfloat16: as a float32 array), as ``constant_`` must store it."""
    if dtype in HALF_DTYPES:
        return to_half(np.asarray(value, dtype=np.float32), dtype)
    return np.asarray(value, dtype=dtype)


#: The most simulated accelerators drawn (a backend with device-count-control: the reference).
MAX_DEVICES = 16


def device_counts() -> st.SearchStrategy[int | None]:
    """A simulated device count as drawn before issue 21: None (what the machine has) or 0 to 3."""
    return st.one_of(st.none(), st.integers(0, 3))


def many_devices() -> st.SearchStrategy[int]:
    """A count past the common ones, drawn beside it in each example: 4 to :data:`MAX_DEVICES`."""
    return st.integers(4, MAX_DEVICES)


#: The most moves of one module in a row (device_routes).
MAX_MOVES = 4


@st.composite
def device_routes(draw: st.DrawFn, first: str, devices: tuple[str, ...]) -> list[str]:
    """Devices to move a module to, one after another: ``first`` (the run's accelerator), then 0 to 3 more
    drawn from ``devices`` (the host and every accelerator present; simulated on the reference), a move to
    where the module already is included."""
    more = draw(st.lists(st.sampled_from(devices), max_size=MAX_MOVES - 1), label="moves after the first")
    return [first, *more]


#: The most conversions of one module in a row (the last one back to the dtype it was built in).
MAX_CONVERSIONS = 4


@st.composite
def conversion_chains(draw: st.DrawFn, float_dtypes: tuple[str, ...], start: str) -> list[str]:
    """Dtypes to convert a module built in ``start`` to, one after another: 1 to 3 drawn, then ``start`` again
    (``to(dtype)`` then back). A half dtype is drawn only once the values are float32 values (built in
    float32, or converted to float32 or a half dtype before): a float64 value goes to half precision
    through float32 in torch (c10::Half(float)) and directly in NumPy, which may round a tie apart."""
    count = draw(st.integers(1, MAX_CONVERSIONS - 1), label="conversions before the way back")
    exact_in_float32 = start != "float64"
    chain: list[str] = []
    for i in range(count):
        usable = [d for d in ("float32", "float64", *HALF_DTYPES) if d in float_dtypes]
        options = [d for d in usable if exact_in_float32 or d not in HALF_DTYPES]
        target = draw(st.sampled_from(options), label=f"conversion {i + 1}")
        exact_in_float32 = exact_in_float32 or target != "float64"
        chain.append(target)
    return [*chain, start]


def rounded_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` rounded once to ``dtype`` (half precision: from float32 values, as a float32 array for bfloat16)."""
    if dtype in HALF_DTYPES:
        return to_half(np.asarray(values, dtype=np.float32), dtype)
    return np.asarray(values).astype(dtype)


def half_dtypes(float_dtypes: tuple[str, ...]) -> tuple[str, ...]:
    """The half-precision dtypes among a backend's ``float_dtypes`` (those it builds modules in)."""
    return tuple(d for d in HALF_DTYPES if d in float_dtypes)


def to_half(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` rounded to the nearest ``dtype`` value (ties to even): a float16 array, or for bfloat16
    (which NumPy lacks) a float32 array holding bfloat16 values exactly, which a backend's
    ``tensor(..., dtype="bfloat16")`` converts without rounding."""
    if dtype == "float16":
        return np.asarray(array).astype(np.float16)
    if dtype != "bfloat16":
        raise ValueError(f"Expected float16 or bfloat16 but got dtype={dtype!r}")
    bits = np.ascontiguousarray(np.asarray(array, dtype=np.float32)).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def _half_values(values: A.LinearValues, dtype: str) -> A.LinearValues:
    bias = None if values.bias is None else to_half(values.bias, dtype)
    return A.LinearValues(to_half(values.weight, dtype), bias)


@st.composite
def half_mlps(draw: st.DrawFn, dtype: str) -> Net:
    """The chapter's MLP (hidden, ReLU, out) in ``dtype`` (float16 or bfloat16), widths 1 to 8, values rounded
    to ``dtype``: what the oracle computes with is exactly what the backend holds."""
    seed = draw(seeds(), label="values seed")
    w_in, w_hidden, w_out = (draw(sizes(1, HALF_MAX_WIDTH), label=n) for n in ("in", "hidden", "out"))
    rng = np.random.default_rng(seed)
    hidden = _half_values(linear_values(rng, w_in, w_hidden, "float32"), dtype)
    out = _half_values(linear_values(rng, w_hidden, w_out, "float32"), dtype)
    arch = A.Block(
        (
            ("hidden", A.Linear(w_in, w_hidden, True, hidden)),
            ("act", A.ReLU()),
            ("out", A.Linear(w_hidden, w_out, True, out)),
        )
    )
    return Net(arch, w_in, w_out, dtype, seed)


@st.composite
def half_leading_shapes(draw: st.DrawFn, rank: int) -> tuple[int, ...]:
    """The dimensions before the last one of a half-precision input of ``rank`` (1 to 4): at most
    :data:`HALF_MAX_ROWS` rows in all."""
    lead: list[int] = []
    for i in range(rank - 1):
        room = HALF_MAX_ROWS // max(1, int(np.prod(lead)))
        lead.append(draw(sizes(1, room), label=f"leading dimension {i}"))
    return tuple(lead)


@st.composite
def half_inputs(draw: st.DrawFn, net: Net, rank: int = 2) -> np.ndarray:
    """An input of ``rank`` for a half-precision ``net``, standard normal values rounded to its dtype.

    Scale 1 only: float16 overflows at 65504 and loses relative precision below 6e-5 (the oracle
    bounds that loss absolutely, :func:`conformance.kit.oracle.underflow`).
    """
    lead = draw(half_leading_shapes(rank), label="leading dimensions")
    seed = draw(seeds(), label="input seed")
    return to_half(input_array(seed, (*lead, net.in_width), "float32"), net.dtype)


def half_cotangent(seed: int, rows: int, net: Net) -> np.ndarray:
    """A cotangent for a half-precision ``net``'s output, exact in its dtype (the oracle takes it as exact)."""
    return to_half(input_array(seed, (rows, net.out_width), "float32"), net.dtype)


# --- memory layouts: the view a tensor is saved, loaded or copied from ---------------------------------------

#: The layouts a test draws: ``contiguous`` (the tensor as made from NumPy) and every key of ``LAYOUTS``.
LAYOUT_NAMES = ("contiguous", "transposed", "step", "offset")
_LAYOUT_MIN_RANK = {"contiguous": 0, "transposed": 2, "step": 1, "offset": 1}


def layouts_for(ndim: int) -> tuple[str, ...]:
    """The layouts a tensor of ``ndim`` dimensions has: ``transposed`` from 2 dimensions, ``step`` and ``offset``
    from 1, ``contiguous`` always."""
    return tuple(name for name in LAYOUT_NAMES if ndim >= _LAYOUT_MIN_RANK[name])


def layouts(ndim: int) -> st.SearchStrategy[str]:
    """A memory layout of :func:`layouts_for` ``ndim`` (shrinking to ``contiguous``)."""
    return st.sampled_from(layouts_for(ndim))


def _other_bits(array: np.ndarray) -> np.ndarray:
    """``array`` with every bit of every element inverted (bools negated): different from it everywhere."""
    if array.dtype == np.bool_:
        return ~array
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return (~flat).view(array.dtype).reshape(array.shape)


def layout_source(array: np.ndarray, layout: str) -> np.ndarray:
    """The array whose ``LAYOUTS[layout]`` view holds ``array`` (``array`` itself for ``contiguous``).

    The elements the view skips (every other row of ``step``, the first row of
    ``offset``) hold ``array``'s bits inverted, so a view read from the wrong
    place of its storage differs from ``array`` wherever it lands.
    """
    if layout == "contiguous":
        return array
    if layout == "transposed":
        return np.ascontiguousarray(array.T)
    rows, rest = array.shape[0], array.shape[1:]
    if layout == "step":
        source = np.empty((2 * rows, *rest), dtype=array.dtype)
        source[::2], source[1::2] = array, _other_bits(array)
    else:
        first = _other_bits(array[:1]) if rows else np.zeros((1, *rest), dtype=array.dtype)
        source = np.concatenate([first, array])
    assert np.ascontiguousarray(LAYOUTS[layout](source)).tobytes() == np.ascontiguousarray(array).tobytes()
    return source


def in_layout(backend: Any, array: np.ndarray, layout: str, device: str, dtype: str) -> Any:
    """A tensor of ``backend`` holding ``array`` in ``layout``: made from :func:`layout_source`, then viewed."""
    source = backend.tensor(layout_source(array, layout), device, dtype=dtype)
    return source if layout == "contiguous" else backend.strided_view(source, layout)


__all__ = [
    "FINITE_MAX",
    "HALF_DTYPES",
    "HALF_MAX_ROWS",
    "HALF_MAX_WIDTH",
    "LAYOUT_NAMES",
    "MAX_CONVERSIONS",
    "MAX_DEVICES",
    "MAX_MOVES",
    "MAX_RANK",
    "MORE_REACH",
    "RARE",
    "SMALLEST",
    "batch_inputs",
    "constant_in",
    "conversion_chains",
    "device_counts",
    "device_routes",
    "half_cotangent",
    "half_dtypes",
    "half_inputs",
    "half_leading_shapes",
    "half_mlps",
    "in_layout",
    "init_dtypes",
    "input_ranks",
    "layout_source",
    "layouts",
    "layouts_for",
    "leading_shapes",
    "many_devices",
    "ordinary_constants",
    "ranked_inputs",
    "rounded_to",
    "special_constants",
    "to_half",
    "wide_batches",
]
