"""Hypothesis strategies: architectures, nesting, ties, shapes, dtypes, values.

Values (weights, inputs) come from a drawn seed fed to NumPy's generator
rather than element by element: examples stay cheap, shrink to seed 0, and
print in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from conformance import arch as A

Ties = Literal["none", "siblings", "any"]

#: Words for registration names; an index is appended so names never clash.
_SEQ_WORDS = ("block", "layer", "stage", "part")
_ATTR_WORDS = ("hidden", "out", "proj", "body", "head", "branch")


@dataclass(frozen=True, eq=False)
class Net:
    """A drawn architecture with explicit values, its widths and dtype."""

    arch: A.Node
    in_width: int
    out_width: int
    dtype: str
    seed: int

    def __repr__(self) -> str:
        return f"Net({A.describe(self.arch)}, in={self.in_width}, dtype={self.dtype}, seed={self.seed})"


def seeds() -> st.SearchStrategy[int]:
    """Seeds for NumPy generators and framework initializers."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def batch_sizes(max_batch: int = 8) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=max_batch)


def widths(max_width: int = 12) -> st.SearchStrategy[int]:
    return st.integers(min_value=1, max_value=max_width)


def float_dtypes(available: tuple[str, ...]) -> st.SearchStrategy[str]:
    """One of the backend's float dtypes that the oracle can bound (float32, float64)."""
    usable = [d for d in available if d in ("float32", "float64")]
    if not usable:
        raise ValueError(f"Expected float32 or float64 among the backend's float dtypes but got {available!r}")
    return st.sampled_from(usable)


def linear_values(
    rng: np.random.Generator, in_width: int, out_width: int, dtype: str, bias: bool = True
) -> A.LinearValues:
    """Weights of the size PyTorch's default init gives, so activations stay O(1)."""
    scale = 1.0 / np.sqrt(in_width)
    weight = (rng.standard_normal((out_width, in_width)) * scale).astype(dtype)
    values = (rng.standard_normal(out_width) * scale).astype(dtype) if bias else None
    return A.LinearValues(weight, values)


def input_array(seed: int, shape: tuple[int, ...], dtype: str, scale: float = 1.0) -> np.ndarray:
    """A standard-normal array of ``shape`` from ``seed``, times ``scale``."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


class _TreeBuilder:
    """Draws a chain-shaped tree; each node maps the running width to a new one."""

    def __init__(
        self,
        draw: st.DrawFn,
        rng: np.random.Generator,
        dtype: str,
        max_width: int,
        ties: Ties,
        leaves: tuple[str, ...],
        containers: tuple[str, ...],
    ) -> None:
        self.draw, self.rng, self.dtype = draw, rng, dtype
        self.max_width, self.ties = max_width, ties
        self.leaves, self.containers = leaves, containers
        self.pool: dict[int, list[A.Node]] = {}  # square layers that may be reused, by width

    def node(self, width: int, depth: int, pool: dict[int, list[A.Node]]) -> tuple[A.Node, int]:
        kinds = list(self.leaves) + (list(self.containers) if depth > 0 else [])
        kind = self.draw(st.sampled_from(kinds))
        if kind in self.containers:
            return self.container(kind, width, depth - 1)
        if self.ties != "none" and pool.get(width) and self.draw(st.booleans()):
            return self.draw(st.sampled_from(pool[width])), width
        return self.leaf(kind, width, pool)

    def leaf(self, kind: str, width: int, pool: dict[int, list[A.Node]]) -> tuple[A.Node, int]:
        if kind == "relu":
            return A.ReLU(), width
        if kind == "centered":
            return A.Centered(), width
        out = self.draw(st.one_of(st.just(width), widths(self.max_width)))
        if kind == "my_linear":
            values = linear_values(self.rng, width, out, self.dtype)
            node: A.Node = A.MyLinear(width, out, A.LinearValues(values.weight.T.copy(), values.bias))
        else:
            bias = self.draw(st.booleans()) if kind == "linear_maybe_bias" else True
            node = A.Linear(width, out, bias, linear_values(self.rng, width, out, self.dtype, bias))
        if out == width:
            pool.setdefault(width, []).append(node)
        return node, out

    def container(self, kind: str, width: int, depth: int) -> tuple[A.Node, int]:
        count = self.draw(st.integers(min_value=1, max_value=4))
        pool = self.pool if self.ties == "any" else {}
        children = []
        for _ in range(count):
            child, width = self.node(width, depth, pool)
            children.append(child)
        if kind == "block":
            words = self.draw(st.lists(st.sampled_from(_ATTR_WORDS), min_size=count, max_size=count))
            return A.Block(tuple((f"{w}_{i}", c) for i, (w, c) in enumerate(zip(words, children, strict=True)))), width
        if kind == "named":
            words = self.draw(st.lists(st.sampled_from(_SEQ_WORDS), min_size=count, max_size=count))
            return A.Sequential(tuple(children), names=tuple(f"{w} {i}" for i, w in enumerate(words))), width
        return A.Sequential(tuple(children), custom=(kind == "my_sequential")), width


@st.composite
def nets(
    draw: st.DrawFn,
    dtypes: tuple[str, ...] = ("float32",),
    *,
    max_depth: int = 3,
    max_width: int = 12,
    ties: Ties = "none",
    leaves: tuple[str, ...] = ("linear", "relu"),
    containers: tuple[str, ...] = ("sequential", "named", "block"),
) -> Net:
    """A network: a root container holding a drawn tree of layers and nested blocks.

    ``leaves`` picks layer kinds (``linear``, ``linear_maybe_bias``, ``relu``,
    ``centered``, ``my_linear``); ``containers`` picks nesting kinds
    (``sequential``, ``named`` for add_module names, ``block`` for
    attributes, ``my_sequential``). ``ties`` says where a square layer may be
    reused: nowhere, among siblings of one container, or anywhere.
    """
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    in_width = draw(widths(max_width), label="input width")
    builder = _TreeBuilder(draw, np.random.default_rng(seed), dtype, max_width, ties, leaves, containers)
    root_kind = draw(st.sampled_from(containers), label="root container")
    arch, out_width = builder.container(root_kind, in_width, max_depth - 1)
    return Net(arch, in_width, out_width, dtype, seed)


def tied_linears(root: A.Node) -> dict[int, list[str]]:
    """Paths of every linear layer used at more than one position, by layer identity."""
    uses: dict[int, list[str]] = {}
    for path, node in A.walk(root):
        if isinstance(node, A.Linear):
            uses.setdefault(id(node), []).append(path)
    return {key: paths for key, paths in uses.items() if len(paths) > 1}


@st.composite
def tied_nets(draw: st.DrawFn, /, dtypes: tuple[str, ...] = ("float32",), **options: Any) -> Net:
    """A network with at least one tied linear layer, built rather than filtered for.

    A drawn net (``ties="any"``) that happens to share no layer gets a square
    linear layer appended twice, around a ReLU, so no example is thrown away.
    """
    net = draw(nets(dtypes, ties="any", **options))
    if tied_linears(net.arch):
        return net
    width = net.out_width
    shared = A.Linear(width, width, True, linear_values(np.random.default_rng(net.seed + 7), width, width, net.dtype))
    arch = A.Sequential((net.arch, shared, A.ReLU(), shared))
    return Net(arch, net.in_width, width, net.dtype, net.seed)


@st.composite
def mlps(draw: st.DrawFn, dtypes: tuple[str, ...] = ("float32",), max_width: int = 32) -> Net:
    """The chapter's MLP as a custom block (hidden, ReLU, out), with drawn widths and values."""
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    w_in, w_hidden, w_out = (draw(widths(max_width), label=n) for n in ("in", "hidden", "out"))
    rng = np.random.default_rng(seed)
    arch = A.Block(
        (
            ("hidden", A.Linear(w_in, w_hidden, True, linear_values(rng, w_in, w_hidden, dtype))),
            ("act", A.ReLU()),
            ("out", A.Linear(w_hidden, w_out, True, linear_values(rng, w_hidden, w_out, dtype))),
        )
    )
    return Net(arch, w_in, w_out, dtype, seed)


@st.composite
def inputs(draw: st.DrawFn, net: Net, max_batch: int = 8) -> np.ndarray:
    """An input batch for ``net``: drawn batch size, seed and scale."""
    batch = draw(batch_sizes(max_batch), label="batch")
    seed = draw(seeds(), label="input seed")
    scale = draw(st.sampled_from([1.0, 0.01, 100.0]), label="input scale")
    return input_array(seed, (batch, net.in_width), net.dtype, scale)


def untie(root: A.Node) -> A.Node:
    """A copy of ``root`` in which every use of a shared layer is a layer of its own, same values."""
    if isinstance(root, A.Sequential):
        return A.Sequential(tuple(untie(c) for c in root.children), root.names, root.custom)
    if isinstance(root, A.Block):
        return A.Block(tuple((n, untie(c)) for n, c in root.children))
    if isinstance(root, A.Linear):
        return A.Linear(root.in_features, root.out_features, root.bias, root.values)
    if isinstance(root, A.MyLinear):
        return A.MyLinear(root.in_units, root.units, root.values)
    if isinstance(root, A.LazyLinear):
        return A.LazyLinear(root.out_features, root.bias)
    return type(root)()


@st.composite
def raw_arrays(draw: st.DrawFn, dtypes: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """An array with arbitrary bit patterns (NaN payloads, -0.0, subnormals, inf), and its dtype name.

    bfloat16 arrives as float32 values that bfloat16 represents exactly.
    """
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3), label="shape"))
    count = int(np.prod(shape))
    if dtype == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=bool).reshape(shape), dtype
    if dtype == "bfloat16":
        halves = draw(st.binary(min_size=2 * count, max_size=2 * count), label="bfloat16 bits")
        bits = np.frombuffer(halves, dtype=np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape), dtype
    itemsize = np.dtype(dtype).itemsize
    raw = draw(st.binary(min_size=itemsize * count, max_size=itemsize * count), label="bits")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy(), dtype
