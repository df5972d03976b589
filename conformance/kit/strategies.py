"""Hypothesis strategies: architectures, nesting, ties, shapes, dtypes, values.

Values (weights, inputs) come from a drawn seed fed to NumPy's generator
rather than element by element: examples stay cheap, shrink to seed 0, and
print in one line.

Cheap draws, by design: every strategy is built once, at import or on its
first call with given arguments (``functools.lru_cache``), never inside a
draw: hypothesis validates and labels each new strategy object, which cost
nearly half of drawing a net when it happened per draw (``benchmarks/bench_strategies.py``).
A public strategy function called twice with equal, hashable arguments
returns the same object; :func:`inputs` alone is built per call, for the net
drawn just before it.

Reach, by design: every size and count is drawn across its whole meaningful
range with its boundaries weighted in, and the large end is drawn rarely (one
draw in :data:`RARE`) so a profile's cost barely moves. :data:`REACH` is the
table of what each strategy reaches; ``tests/kit/test_strategies_reach.py`` samples every
strategy and fails when a documented extreme no longer occurs.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
from hypothesis import strategies as st

from conformance import arch as A

Ties = Literal["none", "siblings", "any"]
P = ParamSpec("P")
T = TypeVar("T")

#: Words for registration names; an index is appended so names never clash.
_SEQ_WORDS = ("block", "layer", "stage", "part")
_ATTR_WORDS = ("hidden", "out", "proj", "body", "head", "branch")

#: One draw in RARE takes the large end of a range (children, elements, keys, widths): often
#: enough that the fast profile's 10 examples reach it, rare enough that cost stays in check.
RARE = 4


@dataclass(frozen=True)
class Reach:
    """The documented range of one drawn dimension and the boundary values that must occur.

    Every draw lies in ``[low, high]``; among a few thousand draws the
    boundary equal to ``low`` occurs exactly and every other boundary is
    reached or exceeded (``tests/kit/test_strategies_reach.py``).
    """

    strategy: str
    low: int
    high: int
    boundaries: tuple[int, ...]


#: What each strategy reaches, by dimension. ``tests/kit/test_strategies_reach.py`` holds the strategies to it,
#: and a palette mode for compiling frameworks must keep every boundary in its palette.
REACH: Mapping[str, Reach] = {
    # per container: 0 (the identity) for nested ones; 11+ makes "10.weight" meet "2.weight"
    "children": Reach("nets", 0, 12, (0, 1, 4, 11, 12)),
    "depth": Reach("nets(max_depth=5)", 1, 5, (1, 5)),  # nested containers, root included
    "nodes": Reach("nets", 1, 40, (1,)),  # the size budget of one drawn tree
    "width": Reach("mlps", 1, 256, (1, 32, 200)),  # layer widths: 1..32 commonly, up to 256 rarely
    "net_width": Reach("nets", 1, 300, (1, 12, 101, 250)),  # 1..12; half the nets also one of 101..300
    "batch": Reach("inputs", 1, 8, (1, 8)),
    "elements": Reach("raw_arrays", 0, 2**16 + 4096, (0, 1, 2**16 + 1)),  # one tensor, bits drawn
    "dict_keys": Reach("io_containers", 0, 12, (0, 9, 12)),  # one dict of a saved container
    "list_items": Reach("io_containers", 0, 12, (0, 9)),
    "backward_passes": Reach("backward_passes", 1, 4, (1, 3, 4)),
    "tie_uses": Reach("tied_sequences", 2, 4, (2, 3, 4)),  # positions sharing one layer
    # positions using one weight tensor, through weight_of and module reuse, and their layer types
    "param_tie_uses": Reach("param_tied_nets", 3, 6, (3, 5, 6)),
    "param_tie_types": Reach("param_tied_nets", 2, 2, (2,)),
    "special_percent": Reach("raw_arrays", 0, 100, (0, 100)),  # of a float array: NaNs, -0.0, subnormals, inf
}


@dataclass(frozen=True)
class Palette:
    """The few sizes a run draws shapes from when its framework compiles a kernel per shape.

    A framework that compiles per shape (JAX, tinygrad) pays for every new
    width, batch size and tensor dimension; drawn freely, almost every example
    is a new shape. Under a palette, :func:`sizes` (and with it every width,
    batch size and tensor dimension the suite draws) takes only the values
    :meth:`within` gives for the requested range, so the distinct shapes of a
    run are bounded, across tests as well as examples, while values,
    architectures, nesting, ties, counts and dtypes stay fully drawn.
    Shrinking stays inside the palette (towards its smallest value).

    The values are 0 and 1, a small size (2 to 4), an odd one (5 to 11),
    :data:`COMMON_TOP` (the top of the common widths) and one large size (250
    to 256), the last three chosen from the run's seed. A range keeps its own
    ends where they are common sizes (at most :data:`COMMON_TOP`: batch 8, a
    0-d or 0-element tensor); a larger end is met by the palette's largest
    value inside the range instead, so ``[1, 32]``, ``[1, 64]`` and ``[1, 12]``
    share their shapes, and the rare wide ranges ``[33, 256]`` and ``[101, 300]``
    both draw the one large size. A range holding no palette value at all
    keeps both its ends.

    What a palette gives up: a size strictly between its values (a bug that
    shows only at width 17 is found by a run whose palette holds it, not by
    every run), and the exact top of a range wider than the common sizes (a
    width of 32 or 300 itself; the large size, 250 to 256, stands for both).
    What it keeps: every boundary of :data:`REACH` (batch 1, width 1,
    0-element and 0-d tensors, widths above 100, more than 2**16 elements),
    which ``tests/kit/test_strategies_reach.py`` checks in palette mode too.
    """

    seed: int
    values: tuple[int, ...]

    def within(self, low: int, high: int) -> tuple[int, ...]:
        """The sizes a range ``[low, high]`` draws from under this palette, smallest first."""
        inside = {v for v in self.values if low <= v <= high}
        ends = {end for end in (low, high) if end <= COMMON_TOP}
        return tuple(sorted(inside | ends if inside | ends else {low, high}))


#: Under a palette, the largest common size: a range's end above it is met by the palette's values.
COMMON_TOP = 12


def palette_for(seed: int) -> Palette:
    """The palette of a run with ``seed``: 0, 1, a small size, an odd one, :data:`COMMON_TOP`, a large one.

    Per range that is at most five sizes: for the widths 1..12 of a net,
    ``1, small, odd, 12``; for a rare wide layer (33..256 or 101..300), the
    large size alone. Few enough that a framework compiling per shape meets
    the same shapes again and again in a run.
    """
    rng = np.random.default_rng(seed)
    small, odd = int(rng.integers(2, 5)), int(rng.choice([5, 7, 9, 11]))
    large = int(rng.choice([250, 251, 253, 255, 256]))
    return Palette(seed, (0, 1, small, odd, COMMON_TOP, large))


#: The palette of the run in progress (None: sizes drawn freely). A context variable, set by the run's
#: session and reset when it ends, never a module global that another run in the process would inherit.
_PALETTE: contextvars.ContextVar[Palette | None] = contextvars.ContextVar("blockspec_palette", default=None)


def use_palette(palette: Palette | None) -> contextvars.Token[Palette | None]:
    """Draw shapes from ``palette`` from now on in this context, or freely again with None.

    Returns the token that puts the previous palette back (:func:`restore_palette`), as a run's session does
    when it ends.
    """
    return _PALETTE.set(palette)


def restore_palette(token: contextvars.Token[Palette | None]) -> None:
    """The palette from before the :func:`use_palette` call that returned ``token``."""
    _PALETTE.reset(token)


def active_palette() -> Palette | None:
    """The palette shapes are drawn from in this context, or None when they are drawn freely."""
    return _PALETTE.get()


_cache = functools.lru_cache(maxsize=None)

#: Strategies without arguments, built once.
_BOOLEANS = st.booleans()
_SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
_RARE_PICKS = st.integers(0, RARE - 1)


@_cache
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@_cache
def _sampled(elements: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """``st.sampled_from(elements)``, built once per tuple of (hashable) elements."""
    return st.sampled_from(elements)


@_cache
def _lists_of(elements: tuple[Any, ...], count: int) -> st.SearchStrategy[list[Any]]:
    """``count`` items drawn from ``elements`` (registration names, bit patterns, layer types)."""
    return st.lists(_sampled(elements), min_size=count, max_size=count)


def _once(build: Callable[P, st.SearchStrategy[T]]) -> Callable[P, st.SearchStrategy[T]]:
    """``build`` (a composite) cached by its arguments where they are hashable, so a draw rebuilds nothing.

    A drawn object passed as an argument (a net, whose hash is its identity) is never cached: it
    would keep every example alive. Unhashable arguments (a list of dtypes) build a new strategy.
    """
    cached: Callable[P, st.SearchStrategy[T]] = functools.lru_cache(maxsize=None)(build)  # type: ignore[assignment]

    @functools.wraps(build)
    def strategy(*args: P.args, **kwargs: P.kwargs) -> st.SearchStrategy[T]:
        try:
            hash((args, tuple(kwargs.items())))
        except TypeError:
            return build(*args, **kwargs)
        return cached(*args, **kwargs)

    return strategy


@_cache
def _palette_sizes(palette: Palette, low: int, high: int) -> st.SearchStrategy[int]:
    return _sampled(palette.within(low, high))


@st.composite
def _size(draw: st.DrawFn, low: int, high: int) -> int:
    palette = _PALETTE.get()
    if palette is None:
        return draw(_integers(low, high))
    return draw(_palette_sizes(palette, low, high))


@_cache
def sizes(low: int, high: int) -> st.SearchStrategy[int]:
    """A size in ``[low, high]`` (a width, a batch, a tensor dimension): any, or one of the run's palette.

    Decided at draw time, so a strategy built at import follows the palette a
    run sets later; without a palette the draw is exactly ``st.integers(low, high)``.
    """
    return _size(low, high)


@_cache
def rare_large(common: st.SearchStrategy[int], large: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """``common`` mostly; ``large`` one draw in :data:`RARE` (hypothesis shrinks towards ``common``)."""
    return st.integers(0, RARE - 1).flatmap(lambda pick: large if pick == RARE - 1 else common)


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
    return _SEEDS


@_cache
def batch_sizes(max_batch: int = 8) -> st.SearchStrategy[int]:
    """Batch sizes from 1 to ``max_batch`` (:func:`sizes`: under a palette, the palette's sizes in that range)."""
    return sizes(1, max_batch)


@_cache
def widths(max_width: int = 12, rare_max: int | None = None) -> st.SearchStrategy[int]:
    """Widths from 1 to ``max_width``; with ``rare_max``, up to it one draw in :data:`RARE`."""
    common = sizes(1, max_width)
    if rare_max is None or rare_max <= max_width:
        return common
    return rare_large(common, sizes(max_width + 1, rare_max))


@_cache
def backward_passes() -> st.SearchStrategy[int]:
    """How many backward passes accumulate: 1 to 4, the third and fourth included."""
    return st.integers(min_value=1, max_value=4)


def float_dtypes(available: tuple[str, ...]) -> st.SearchStrategy[str]:
    """One of the backend's float dtypes that the oracle can bound (float32, float64)."""
    return _float_dtypes(tuple(available))


@_cache
def _float_dtypes(available: tuple[str, ...]) -> st.SearchStrategy[str]:
    usable = tuple(d for d in available if d in ("float32", "float64"))
    if not usable:
        raise ValueError(f"Expected float32 or float64 among the backend's float dtypes but got {available!r}")
    return _sampled(usable)


@_cache
def _same_or_width(width: int, max_width: int) -> st.SearchStrategy[int]:
    """A layer's output width: the running ``width`` kept, or any width up to ``max_width``."""
    return st.one_of(st.just(width), widths(max_width))


def _child_counts(nested: bool) -> st.SearchStrategy[int]:
    """Children of one container: 1 to 4 mostly, 11 or 12 one draw in :data:`RARE`; 0 one nested draw in RARE."""
    many = st.integers(REACH["children"].boundaries[3], REACH["children"].high)
    some = rare_large(st.integers(1, 4), many)
    # an empty container (the identity) one nested draw in RARE; the root keeps a child
    return _RARE_PICKS.flatmap(lambda pick: st.just(0) if pick == 0 else some) if nested else some


#: Children per container, built once: (root, nested).
_CHILD_COUNTS = (_child_counts(False), _child_counts(True))


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


#: The pool key of a parameter-free layer (ReLU, CenteredLayer): it may be reused at any width.
ANY_WIDTH = 0


def _tree_size(node: A.Node) -> int:
    """Nodes at every path of ``node``'s subtree, itself included: what it adds to a tree where it appears."""
    return sum(1 for _ in A.walk(node))


def _height(node: A.Node) -> int:
    """Container levels of ``node``, itself included: 0 for a layer."""
    children = A.children(node)
    if not isinstance(node, (A.Sequential, A.Block)):
        return 0
    return 1 + max((_height(child) for _, child in children), default=0)


def _sharing_groups(nodes: list[A.Node]) -> tuple[list[A.Node], list[A.Node], list[A.Node]]:
    """``nodes`` split into containers, layers with parameters, and parameter-free layers, in order."""
    containers: list[A.Node] = [n for n in nodes if isinstance(n, (A.Sequential, A.Block))]
    free: list[A.Node] = [n for n in nodes if isinstance(n, (A.ReLU, A.Centered))]
    layers: list[A.Node] = [n for n in nodes if not isinstance(n, (A.Sequential, A.Block, A.ReLU, A.Centered))]
    return containers, layers, free


class _TreeBuilder:
    """Draws a chain-shaped tree; each node maps the running width to a new one.

    With ties, every layer, every finished container and every parameter-free
    layer (ReLU, CenteredLayer) go into a pool and may appear again later,
    among siblings or anywhere in the tree, where the running width is the
    one they take (a parameter-free layer: any width).
    """

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
        self.linear_kinds = any(k in leaves for k in ("linear", "linear_maybe_bias", "my_linear"))
        # what may be reused, by the width it takes (ANY_WIDTH: a parameter-free layer, any width)
        self.pool: dict[int, list[A.Node]] = {}
        self.outs: dict[int, int] = {}  # the width each pooled module gives, by identity
        self.shapes: dict[int, tuple[int, int]] = {}  # (size, height) of each pooled node, by identity
        self.budget = REACH["nodes"].high  # nodes left to draw: deep and wide trees stay cheap
        self.wide = 0  # a width of a few hundred that layers may take; 0: none in this tree

    def wide_tree(self, wide: int) -> None:
        """Let layers take the width ``wide`` as well, on half the node budget so the cost stays in check."""
        self.wide, self.budget = wide, min(self.budget, REACH["nodes"].high // 2)

    def node(self, width: int, depth: int, pool: dict[int, list[A.Node]]) -> tuple[A.Node, int]:
        self.budget -= 1
        kinds = list(self.leaves) + (list(self.containers) if depth > 0 and self.budget > 0 else [])
        kind = self.draw(_sampled(tuple(kinds)), label="node kind")
        if kind in self.containers:
            node, out = self.container(kind, width, depth - 1, nested=True)
            if self.ties != "none":  # a finished container, reusable wherever the running width is its input's
                self.share(pool, width, out, node)
            return node, out
        if self.ties != "none":
            reusable = self.reusable(width, depth, pool)
            reuse = len(reusable) > 0 and bool(self.draw(_BOOLEANS, label="reuse a module from earlier in the tree"))
            if reuse:
                # a kind first (container, layer with parameters, parameter-free layer), each as likely as the
                # others, a container three times as likely: containers are few in a pool, and sharing one is the
                # rarer region
                containers, layers, free = _sharing_groups(reusable)
                groups = [g for g in (containers, containers, containers, layers, free) if g]
                group = groups[self.draw(_integers(0, len(groups) - 1), label="kind of module reused")]
                reused = group[self.draw(_integers(0, len(group) - 1), label="module reused")]
                self.budget -= self.shapes[id(reused)][0] - 1  # each node at each path counts, as if drawn
                return reused, self.outs.get(id(reused), width)
        return self.leaf(kind, width, pool)

    def share(self, pool: dict[int, list[A.Node]], width: int, out: int, node: A.Node) -> None:
        """Put ``node`` (taking ``width``, giving ``out``) in ``pool``, to be reused where the width is ``width``."""
        pool.setdefault(width, []).append(node)
        self.outs[id(node)] = out

    def reusable(self, width: int, depth: int, pool: dict[int, list[A.Node]]) -> list[A.Node]:
        """What may appear again here: drawn earlier, taking ``width``, within depth and budget.

        A shared container counts all its nodes against the budget and its nesting against the depth,
        so a tree with shared containers stays within :data:`REACH`'s ``nodes`` and ``depth``.
        """
        fits = []
        for node in pool.get(width, []) + pool.get(ANY_WIDTH, []):
            if id(node) not in self.shapes:
                self.shapes[id(node)] = (_tree_size(node), _height(node))
            size, height = self.shapes[id(node)]
            if height <= depth and (size == 1 or size - 1 <= self.budget):
                fits.append(node)
        return fits

    def leaf(self, kind: str, width: int, pool: dict[int, list[A.Node]]) -> tuple[A.Node, int]:
        if kind in ("relu", "centered"):
            free = A.ReLU() if kind == "relu" else A.Centered()
            if self.ties != "none":  # a parameter-free layer fits every width
                pool.setdefault(ANY_WIDTH, []).append(free)
            return free, width
        # in a wide tree, half the layers go to (or stay at) the wide width
        out = self.wide if self.wide and self.draw(_BOOLEANS) else self.draw(_same_or_width(width, self.max_width))
        if kind == "my_linear":
            values = linear_values(self.rng, width, out, self.dtype)
            node: A.Node = A.MyLinear(width, out, A.LinearValues(values.weight.T.copy(), values.bias))
        else:
            bias = self.draw(_BOOLEANS) if kind == "linear_maybe_bias" else True
            node = A.Linear(width, out, bias, linear_values(self.rng, width, out, self.dtype, bias))
        if self.ties != "none":  # square or not: reusable wherever the running width is ``width``
            self.share(pool, width, out, node)
        return node, out

    def container(self, kind: str, width: int, depth: int, nested: bool = False) -> tuple[A.Node, int]:
        count = min(max(self.budget, 1), self.draw(_CHILD_COUNTS[nested]))
        pool = self.pool if self.ties == "any" else {}
        children: list[A.Node] = []
        entry = width
        for _ in range(count):
            if children and self.budget <= 0:  # the tree's node budget is spent: close this container
                break
            child, width = self.node(width, depth, pool)
            children.append(child)
        # a container that maps its width to itself fits more places to be shared; with layers inside it rarely
        # does by chance, so half the time a last Linear brings it back to its input width
        closable = nested and self.ties != "none" and width != entry and self.budget > 0 and self.linear_kinds
        if closable and self.draw(_BOOLEANS, label="close the container with a Linear back to its input width"):
            self.budget -= 1
            children.append(A.Linear(width, entry, True, linear_values(self.rng, width, entry, self.dtype)))
            width = entry
        count = len(children)
        if kind == "block":
            words = self.draw(_lists_of(_ATTR_WORDS, count))
            return A.Block(tuple((f"{w}_{i}", c) for i, (w, c) in enumerate(zip(words, children, strict=True)))), width
        if kind == "named":
            words = self.draw(_lists_of(_SEQ_WORDS, count))
            return A.Sequential(tuple(children), names=tuple(f"{w} {i}" for i, w in enumerate(words))), width
        return A.Sequential(tuple(children), custom=(kind == "my_sequential")), width


def nets(
    dtypes: tuple[str, ...] = ("float32",),
    *,
    max_depth: int = 3,
    max_width: int = 12,
    ties: Ties = "none",
    leaves: tuple[str, ...] = ("linear", "relu"),
    containers: tuple[str, ...] = ("sequential", "named", "block"),
    wide: bool = True,
) -> st.SearchStrategy[Net]:
    """A network: a root container holding a drawn tree of layers and nested blocks.

    ``leaves`` picks layer kinds (``linear``, ``linear_maybe_bias``, ``relu``,
    ``centered``, ``my_linear``); ``containers`` picks nesting kinds
    (``sequential``, ``named`` for add_module names, ``block`` for
    attributes, ``my_sequential``). ``ties`` says where a module may be
    reused: nowhere, among siblings of one container, or anywhere; what is
    reused is a square layer, a finished container mapping its width to
    itself, or a parameter-free layer (ReLU, CenteredLayer). With
    ``wide``, half the nets let half their layers take a width of a few
    hundred (``REACH["net_width"]``), on half the node budget.
    """
    return _nets(tuple(dtypes), max_depth, max_width, ties, tuple(leaves), tuple(containers), wide)


@_cache
def _nets(
    dtypes: tuple[str, ...],
    max_depth: int,
    max_width: int,
    ties: Ties,
    leaves: tuple[str, ...],
    containers: tuple[str, ...],
    wide: bool,
) -> st.SearchStrategy[Net]:
    return _drawn_net(dtypes, max_depth, max_width, ties, leaves, containers, wide)


@st.composite
def _drawn_net(
    draw: st.DrawFn,
    dtypes: tuple[str, ...],
    max_depth: int,
    max_width: int,
    ties: Ties,
    leaves: tuple[str, ...],
    containers: tuple[str, ...],
    wide: bool,
) -> Net:
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    in_width = draw(widths(max_width), label="input width")
    builder = _TreeBuilder(draw, np.random.default_rng(seed), dtype, max_width, ties, leaves, containers)
    # Half the nets, not one in RARE: a wide net must come up within the fast profile's 10 examples, and
    # its small node budget keeps the cost that of a common net.
    large = sizes(REACH["net_width"].boundaries[2], REACH["net_width"].high)
    wide_net = wide and draw(_BOOLEANS, label="a wide net")
    wide_width = draw(large, label="a wide width its layers may take") if wide_net else 0
    if wide_width:
        builder.wide_tree(wide_width)
    root_kind = draw(_sampled(containers), label="root container")
    arch, out_width = builder.container(root_kind, in_width, max_depth - 1)
    return Net(arch, in_width, out_width, dtype, seed)


def tied_linears(root: A.Node) -> dict[int, list[str]]:
    """Paths of every linear layer used at more than one position, by layer identity."""
    uses: dict[int, list[str]] = {}
    for path, node in A.walk(root):
        if isinstance(node, A.Linear):
            uses.setdefault(id(node), []).append(path)
    return {key: paths for key, paths in uses.items() if len(paths) > 1}


def tied_nets(dtypes: tuple[str, ...] = ("float32",), **options: Any) -> st.SearchStrategy[Net]:
    """A network with at least one tied linear layer, built rather than filtered for.

    A drawn net (``ties="any"``) that happens to share no layer gets a square
    linear layer appended 2 to 4 times, ReLUs between, so no example is thrown away.
    ``options`` are :func:`nets`'s.
    """
    return _tied_nets(nets(dtypes, ties="any", **options))


_TIE_USES = st.integers(REACH["tie_uses"].low, REACH["tie_uses"].high)


@_cache
def _tied_nets(base: st.SearchStrategy[Net]) -> st.SearchStrategy[Net]:
    return _drawn_tied_net(base)


@st.composite
def _drawn_tied_net(draw: st.DrawFn, base: st.SearchStrategy[Net]) -> Net:
    net = draw(base)
    if tied_linears(net.arch):
        return net
    width = net.out_width
    shared = A.Linear(width, width, True, linear_values(np.random.default_rng(net.seed + 7), width, width, net.dtype))
    uses = draw(_TIE_USES, label="uses of the appended shared layer")
    arch = A.Sequential((net.arch, shared, *((A.ReLU(), shared) * (uses - 1))))
    return Net(arch, net.in_width, width, net.dtype, net.seed)


@_once
@st.composite
def mlps(draw: st.DrawFn, dtypes: tuple[str, ...] = ("float32",), max_width: int = 32) -> Net:
    """The chapter's MLP as a custom block (hidden, ReLU, out), with drawn widths and values."""
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    wide = REACH["width"].high
    w_in, w_hidden, w_out = (draw(widths(max_width, wide), label=n) for n in ("in", "hidden", "out"))
    rng = np.random.default_rng(seed)
    arch = A.Block(
        (
            ("hidden", A.Linear(w_in, w_hidden, True, linear_values(rng, w_in, w_hidden, dtype))),
            ("act", A.ReLU()),
            ("out", A.Linear(w_hidden, w_out, True, linear_values(rng, w_hidden, w_out, dtype))),
        )
    )
    return Net(arch, w_in, w_out, dtype, seed)


_INPUT_SCALES = st.sampled_from([1.0, 0.01, 100.0])


@st.composite
def inputs(draw: st.DrawFn, net: Net, max_batch: int = 8) -> np.ndarray:
    """An input batch for ``net``: drawn batch size, seed and scale."""
    batch = draw(batch_sizes(max_batch), label="batch")
    seed = draw(seeds(), label="input seed")
    scale = draw(_INPUT_SCALES, label="input scale")
    return input_array(seed, (batch, net.in_width), net.dtype, scale)


def untie(root: A.Node, layouts: Mapping[str, str] = A.CHAPTER_LAYOUTS) -> A.Node:
    """A copy of ``root`` in which every use of a shared layer is a layer of its own, same values.

    A layer holding another's weight (``weight_of``) gets the values it computes with under the
    backend's ``layouts`` (:func:`conformance.arch.weight_in_use`).
    """
    if isinstance(root, A.Sequential):
        return A.Sequential(tuple(untie(c, layouts) for c in root.children), root.names, root.custom)
    if isinstance(root, A.Block):
        return A.Block(tuple((n, untie(c, layouts)) for n, c in root.children))
    if isinstance(root, (A.Linear, A.MyLinear)) and root.weight_of is not None and root.values is not None:
        values: A.LinearValues | None = A.LinearValues(A.weight_in_use(root, layouts), root.values.bias)
    else:
        values = None if isinstance(root, (A.LazyLinear, A.ReLU, A.Centered)) else root.values
    if isinstance(root, A.Linear):
        return A.Linear(root.in_features, root.out_features, root.bias, values)
    if isinstance(root, A.MyLinear):
        return A.MyLinear(root.in_units, root.units, values)
    if isinstance(root, A.LazyLinear):
        return A.LazyLinear(root.out_features, root.bias)
    return type(root)()


#: Bit patterns a format can lose: -0.0, +-inf, NaNs (quiet, signalling, negative, with payload),
#: the smallest and largest subnormals. bfloat16's are the upper halves of float32's.
_SPECIAL_BITS: Mapping[str, tuple[str, tuple[int, ...]]] = {
    "float16": ("uint16", (0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE2A, 0x0001, 0x03FF, 0x8001)),
    "float32": (
        "uint32",
        (0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC12345, 0x00000001, 0x007FFFFF, 0x80000001),
    ),
    "float64": (
        "uint64",
        (
            0x8000000000000000,
            0x7FF0000000000000,
            0xFFF0000000000000,
            0x7FF8000000000000,
            0x7FF0000000000001,
            0xFFF8DEADBEEF0001,
            0x0000000000000001,
            0x000FFFFFFFFFFFFF,
            0x8000000000000001,
        ),
    ),
    "bfloat16": ("uint16", (0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x0001, 0x007F, 0x8001)),
}


def boundary_array(dtype: str) -> np.ndarray:
    """A (3, 3) array of ``dtype``: every special bit pattern for a float dtype, extremes otherwise."""
    if dtype in _SPECIAL_BITS:
        unsigned, patterns = _SPECIAL_BITS[dtype]
        return _from_bits(np.array(patterns, dtype=unsigned), dtype).reshape(3, 3)
    if dtype == "bool":
        return np.array([True, False, True] * 3).reshape(3, 3)
    info = np.iinfo(dtype)
    return np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1, 2, 3, 4], dtype=dtype).reshape(3, 3)


def _from_bits(bits: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return (bits.astype(np.uint32) << 16).view(np.float32)
    return bits.view(dtype)


#: A small tensor's shape: up to 3 dimensions of 0 to 4.
_SMALL_SHAPES = st.lists(sizes(0, 4), max_size=3)


@_cache
def _bool_lists(count: int) -> st.SearchStrategy[list[bool]]:
    return st.lists(_BOOLEANS, min_size=count, max_size=count)


@_cache
def _bytes(count: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=count, max_size=count)


@_once
@st.composite
def raw_arrays(draw: st.DrawFn, dtypes: tuple[str, ...], *, large: bool = True) -> tuple[np.ndarray, str]:
    """An array with arbitrary bit patterns (NaN payloads, -0.0, subnormals, inf), and its dtype name.

    Three kinds: drawn bits (shapes up to 4 x 4 x 4, 0-d and empty included);
    for float dtypes, an array made only of the patterns a format loses
    (-0.0, NaN payloads, subnormals, +-inf), drawn as often as the bits; and,
    one draw in :data:`RARE` when ``large``, more than 2**16 elements from a
    seed. bfloat16 arrives as float32 values that bfloat16 represents exactly.
    """
    dtype = draw(_sampled(tuple(dtypes)), label="dtype")
    kinds = ("bits", "special") if dtype in _SPECIAL_BITS else ("bits",)
    kind = draw(_sampled(kinds), label="kind of values")
    if large and draw(_RARE_PICKS, label=f"large ({RARE - 1}: more than 2**16 elements)") == RARE - 1:
        rows = draw(sizes(2**16 // 256 + 1, REACH["elements"].high // 256), label="rows of 256")
        shape: tuple[int, ...] = draw(_sampled(((rows, 256), (rows * 256,))), label="large shape")
        rng = np.random.default_rng(draw(seeds(), label="large values seed"))
        count = int(np.prod(shape))
        if dtype == "bool":
            return rng.integers(0, 2, size=shape).astype(bool), dtype
        if kind == "special":
            unsigned, patterns = _SPECIAL_BITS[dtype]
            bits = np.array(patterns, dtype=unsigned)[rng.integers(0, len(patterns), size=count)]
            return _from_bits(bits, dtype).reshape(shape), dtype
        unsigned = _SPECIAL_BITS[dtype][0] if dtype == "bfloat16" else f"uint{8 * np.dtype(dtype).itemsize}"
        bits = np.frombuffer(rng.bytes(np.dtype(unsigned).itemsize * count), dtype=unsigned)
        return _from_bits(bits.copy(), dtype).reshape(shape), dtype
    shape = tuple(draw(_SMALL_SHAPES, label="shape"))
    count = int(np.prod(shape))
    if dtype == "bool":
        return np.array(draw(_bool_lists(count)), dtype=bool).reshape(shape), dtype
    if kind == "special":
        unsigned, patterns = _SPECIAL_BITS[dtype]
        picks = draw(_lists_of(patterns, count), label="special bit patterns")
        return _from_bits(np.array(picks, dtype=unsigned), dtype).reshape(shape), dtype
    if dtype == "bfloat16":
        halves = draw(_bytes(2 * count), label="bfloat16 bits")
        bits16 = np.frombuffer(halves, dtype=np.uint16).astype(np.uint32) << 16
        return bits16.view(np.float32).reshape(shape), dtype
    itemsize = np.dtype(dtype).itemsize
    raw = draw(_bytes(itemsize * count), label="bits")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy(), dtype


@_cache
def container_sizes() -> st.SearchStrategy[int]:
    """Items in one list or dict: 0 to 3 mostly, 9 to 12 one draw in :data:`RARE`."""
    return rare_large(st.integers(0, 3), st.integers(REACH["dict_keys"].boundaries[1], REACH["dict_keys"].high))


@_cache
def _dict_keys(size: int, int_keys: bool) -> st.SearchStrategy[list[str | int]]:
    """``size`` distinct keys: short strings, and with ``int_keys`` ints among them (``1`` next to ``"1"``)."""
    text: st.SearchStrategy[str | int] = st.text("abcxyz_1" if int_keys else "abcxyz_", min_size=1, max_size=5)
    key = st.one_of(text, st.integers(-2, 12)) if int_keys else text
    return st.lists(key, min_size=size, max_size=size, unique=True)


@_once
@st.composite
def io_containers(
    draw: st.DrawFn, dtypes: tuple[str, ...], depth: int = 3, *, leaf: bool = True, container_keys: bool = False
) -> Any:
    """A tensor spec, or a list or dict (drawn key order) nesting them: leaves are (array, dtype).

    ``leaf`` False always gives a container. ``container_keys`` (a backend
    declaring that capability) draws tuples as well as lists and int keys among
    the string keys. A container of more than 4 items holds small tensors only,
    so the rare wide containers stay cheap.
    """
    if leaf and (depth == 0 or draw(_BOOLEANS, label="a tensor here")):
        return draw(raw_arrays(dtypes))
    size = draw(container_sizes(), label="container size")
    wide = size > 4  # a wide container holds small tensors only, so its cost stays that of a few
    items = raw_arrays(dtypes, large=False) if wide else io_containers(dtypes, depth - 1, container_keys=container_keys)
    if draw(_BOOLEANS, label="a list (else a dict)"):
        tuples = container_keys and draw(_BOOLEANS, label="a tuple (else a list)")
        sequence = [draw(items) for _ in range(size)]
        return tuple(sequence) if tuples else sequence
    keys = draw(_dict_keys(size, container_keys), label="keys")
    return {key: draw(items) for key in keys}


def leaf_spec(spec: Any) -> bool:
    """Whether an :func:`io_containers` value is a tensor spec ``(array, dtype)`` rather than a tuple container."""
    return isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], np.ndarray) and isinstance(spec[1], str)


@_once
@st.composite
def odd_containers(draw: st.DrawFn, dtypes: tuple[str, ...]) -> Any:
    """A container holding at least one tuple or one int dict key, somewhere in a nesting of up to 3."""
    kind = draw(_sampled(("tuple", "int key")), label="what only container-keys formats keep")
    inner = draw(io_containers(dtypes, 2, leaf=False), label="inner container")
    x = draw(raw_arrays(dtypes, large=False), label="tensor")
    odd: Any = (x, inner) if kind == "tuple" else {draw(_integers(-2, 12), label="int key"): x, "rest": inner}
    if draw(_BOOLEANS, label="nested one level down"):
        odd = draw(st.sampled_from([[odd], {"outer": odd}]), label="outer container")
    return odd


@_cache
def _positions(count: int, uses: int) -> st.SearchStrategy[list[int]]:
    """``uses`` distinct positions among ``count``."""
    return st.lists(_integers(0, count - 1), min_size=uses, max_size=uses, unique=True)


@_once
@st.composite
def tied_sequences(draw: st.DrawFn, dtypes: tuple[str, ...]) -> tuple[Net, tuple[int, ...]]:
    """A Sequential where one square layer appears at 2 to 4 drawn positions, and those positions."""
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    width = draw(widths(), label="width")
    rng = np.random.default_rng(seed)
    shared = A.Linear(width, width, True, linear_values(rng, width, width, dtype))
    uses = draw(_TIE_USES, label="uses of the shared layer")
    count = draw(_integers(max(uses, 2), 7), label="length")
    positions = tuple(sorted(draw(_positions(count, uses), label="tied positions")))
    children: list[A.Node] = [
        shared if k in positions else A.Linear(width, width, True, linear_values(rng, width, width, dtype))
        for k in range(count)
    ]
    return Net(A.Sequential(tuple(children)), width, width, dtype, seed), positions


def _container(kind: str, children: list[A.Node], draw: st.DrawFn) -> A.Node:
    """``children`` in a container of ``kind`` (``sequential``, ``named``, ``block``), with drawn names."""
    if kind == "block":
        count = len(children)
        words = draw(_lists_of(_ATTR_WORDS, count), label="attribute names")
        return A.Block(tuple((f"{w}_{i}", c) for i, (w, c) in enumerate(zip(words, children, strict=True))))
    if kind == "named":
        count = len(children)
        words = draw(_lists_of(_SEQ_WORDS, count), label="add_module names")
        return A.Sequential(tuple(children), names=tuple(f"{w} {i}" for i, w in enumerate(words)))
    return A.Sequential(tuple(children))


_PARAM_TIE_USES = st.integers(REACH["param_tie_uses"].low, REACH["param_tie_uses"].high)
_BETWEEN_USES = st.lists(st.sampled_from(["relu", "linear"]), max_size=2)
_CONTAINER_KINDS = st.sampled_from(("sequential", "named", "block"))


@_once
@st.composite
def param_tied_nets(draw: st.DrawFn, dtypes: tuple[str, ...] = ("float32",)) -> Net:
    """A network where one square weight tensor is used by 3 to 6 layers of both types, Linear and MyLinear.

    One layer owns the weight; every other use is either a new layer naming it
    in ``weight_of`` (``b.weight = a.weight``) or, sometimes, an earlier layer
    of the same type used again (module reuse), so both kinds of tie meet.
    The owner sits at any use, not only the first, so the parameter's first
    registration path may be a user's. ReLUs and untied square Linears lie
    between the uses; a drawn run of them may sit in a nested container.
    Every layer holding the tensor carries the owner's array as its values
    (a Linear computes ``X @ W.T``, a MyLinear ``relu(X @ W)``), so
    :func:`untie` gives an untied copy with equal values.
    """
    dtype = draw(float_dtypes(dtypes), label="dtype")
    seed = draw(seeds(), label="values seed")
    width = draw(widths(), label="width")
    rng = np.random.default_rng(seed)
    uses = draw(_PARAM_TIE_USES, label="uses of the shared weight")
    kinds = draw(_lists_of(("linear", "my_linear"), uses), label="use types")
    if len(set(kinds)) < 2:  # built rather than filtered for: one use turns to the other type
        flip = draw(_integers(0, uses - 1), label="use turned to the other layer type")
        kinds[flip] = "my_linear" if kinds[flip] == "linear" else "linear"
    owner_at = draw(_integers(0, uses - 1), label="the use that owns the weight")
    shared = linear_values(rng, width, width, dtype).weight

    def layer(kind: str, owner: A.Linear | A.MyLinear | None) -> A.Linear | A.MyLinear:
        own = linear_values(rng, width, width, dtype)
        if kind == "my_linear":
            return A.MyLinear(width, width, A.LinearValues(shared, own.bias), weight_of=owner)
        bias = draw(_BOOLEANS, label="the Linear use has a bias")
        return A.Linear(width, width, bias, A.LinearValues(shared, own.bias if bias else None), weight_of=owner)

    owner = layer(kinds[owner_at], None)
    made: list[A.Linear | A.MyLinear] = [owner]
    positions: list[A.Node] = []
    for i, kind in enumerate(kinds):
        if i == owner_at:
            positions.append(owner)
            continue
        earlier = [node for node in made if isinstance(node, A.MyLinear if kind == "my_linear" else A.Linear)]
        if len(earlier) > 0 and draw(_BOOLEANS, label=f"use {i} reuses an earlier layer (module reuse)"):
            positions.append(draw(st.sampled_from(earlier), label=f"layer reused at use {i}"))
            continue
        made.append(layer(kind, owner))
        positions.append(made[-1])
    items: list[A.Node] = []
    for i, use in enumerate(positions):
        items.append(use)
        between = draw(_BETWEEN_USES, label=f"layers after use {i}")
        for kind in between:
            items.append(
                A.ReLU() if kind == "relu" else A.Linear(width, width, True, linear_values(rng, width, width, dtype))
            )
    if draw(_BOOLEANS, label="a nested container"):
        start = draw(_integers(0, len(items) - 1), label="nested from")
        stop = draw(_integers(start + 1, len(items)), label="nested up to")
        inner = _container(draw(_CONTAINER_KINDS, label="nested kind"), items[start:stop], draw)
        items = [*items[:start], inner, *items[stop:]]
    root = _container(draw(_CONTAINER_KINDS, label="root container"), items, draw)
    return Net(root, width, width, dtype, seed)


def weight_use_types(root: A.Node, owner_key: int) -> set[str]:
    """The layer types (``Linear``, ``MyLinear``) of every position using the weight tensor of ``owner_key``."""
    return {
        type(node).__name__
        for _, node in A.walk(root)
        if isinstance(node, (A.Linear, A.MyLinear)) and A.parameter_key(node, "weight")[0] == owner_key
    }
