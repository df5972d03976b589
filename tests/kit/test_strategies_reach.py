"""The strategies' reach: every documented extreme of :data:`conformance.strategies.REACH` occurs.

Each strategy is sampled the way the suite sees it (hypothesis' own
generation, a fixed seed, no database), and each dimension's draws must stay
within the documented range and reach every boundary. A change that quietly
shrinks a strategy (fewer children, smaller tensors, two backward passes
only) fails here before it makes a mutant survive.

Every test runs twice: with sizes drawn freely (eager frameworks) and from a
per-run palette (``--shapes palette``, frameworks that compile per shape), so a
palette too may never give up a documented extreme. The palette mode is marked
``slow``: the quick loop (``-m "not slow"``) samples each strategy once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance.kit.strategies import leaf_spec, odd_containers, param_tied_nets, weight_use_types
from tests import helpers

T = TypeVar("T")

#: Draws per strategy. Derandomized, so the sample (and the verdict) is the same on every run.
DRAWS = 1000
FLOATS = ("float32", "float64")
ALL_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
CONTAINERS = ("sequential", "named", "block")


#: Sizes from a palette: the second sampling of every strategy, left to the full run (``slow``).
_PALETTE_MODE = pytest.param("palette", marks=pytest.mark.slow)


@pytest.fixture(scope="module", params=["full", _PALETTE_MODE], autouse=True)
def shapes(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test of this module once with sizes drawn freely and once from the palette of seed 0."""
    hh.use_palette(hh.palette_for(0) if request.param == "palette" else None)
    yield request.param
    hh.use_palette(None)


def sample(strategy: st.SearchStrategy[T], draws: int = DRAWS) -> list[T]:
    """``draws`` values of ``strategy`` (default :data:`DRAWS`), as tests/helpers.py samples them."""
    return helpers.sample(strategy, draws)


def assert_reach(dimension: str, observed: Iterable[int]) -> None:
    """The draws of ``dimension`` lie in its documented range and reach each boundary."""
    reach = hh.REACH[dimension]
    values = sorted(set(observed))
    assert values, f"observed no draws of {dimension!r} ({reach.strategy}); expected some"
    outside = [v for v in values if not reach.low <= v <= reach.high]
    assert not outside, (
        f"observed {dimension} values {outside} ({reach.strategy}); expected within [{reach.low}, {reach.high}]"
    )
    for boundary in reach.boundaries:
        hit = boundary in values if boundary == reach.low else values[-1] >= boundary
        assert hit, (
            f"observed {dimension} draws of {reach.strategy} spanning {values[0]}..{values[-1]} in {DRAWS} draws; "
            f"expected the boundary {boundary} {'itself' if boundary == reach.low else 'or more'} to occur"
        )


def containers_of(root: A.Node) -> list[tuple[int, A.Node]]:
    """Every container node with its nesting depth (the root is depth 1)."""
    found: list[tuple[int, A.Node]] = []

    def visit(node: A.Node, depth: int) -> None:
        if isinstance(node, (A.Sequential, A.Block)):
            found.append((depth, node))
            for _, child in A.children(node):
                visit(child, depth + 1)

    visit(root, 1)
    return found


def flatten(spec: Any, visit: Callable[[Any], None]) -> None:
    visit(spec)
    if isinstance(spec, list):
        for item in spec:
            flatten(item, visit)
    elif isinstance(spec, dict):
        for item in spec.values():
            flatten(item, visit)


@pytest.fixture(scope="module")
def deep_nets(shapes: str) -> list[hh.Net]:
    return sample(hh.nets(FLOATS, containers=CONTAINERS, max_depth=5))


def test_container_children(deep_nets: list[hh.Net]) -> None:
    assert_reach("children", (len(A.children(node)) for net in deep_nets for _, node in containers_of(net.arch)))


def test_empty_containers_are_common_enough_for_the_fast_profile(deep_nets: list[hh.Net]) -> None:
    """Half the nets hold an empty container, so the fast profile's 10 examples miss it with odds below 2**-10."""
    share = sum(any(not A.children(node) for _, node in containers_of(net.arch)) for net in deep_nets) / len(deep_nets)
    assert share >= 0.5, f"observed an empty container in {share:.0%} of nets; expected at least 50%"
    roots = [net for net in deep_nets if not A.children(net.arch)]
    assert not roots, (
        f"observed {len(roots)} nets with an empty root, e.g. {roots[0]!r}; expected a child in every root"
    )


def test_nesting_depth(deep_nets: list[hh.Net]) -> None:
    assert_reach("depth", (max(depth for depth, _ in containers_of(net.arch)) for net in deep_nets))


def test_tree_size_budget(deep_nets: list[hh.Net]) -> None:
    assert_reach("nodes", (sum(1 for _ in A.walk(net.arch)) - 1 for net in deep_nets))


def test_net_widths(deep_nets: list[hh.Net]) -> None:
    assert_reach(
        "net_width",
        (
            size
            for net in deep_nets
            for _, node in A.walk(net.arch)
            if isinstance(node, A.Linear)
            for size in (node.in_features, node.out_features)
        ),
    )


def test_net_dtypes(deep_nets: list[hh.Net]) -> None:
    seen = {net.dtype for net in deep_nets}
    assert seen == set(FLOATS), f"observed net dtypes {sorted(seen)}; expected every declared float dtype {FLOATS}"


def test_widths_and_batches() -> None:
    drawn = sample(hh.mlps(FLOATS).flatmap(lambda net: st.tuples(st.just(net), hh.inputs(net))))
    widths = [
        size
        for net, _ in drawn
        for _, node in A.walk(net.arch)
        if isinstance(node, A.Linear)
        for size in (node.in_features, node.out_features)
    ]
    assert_reach("width", widths)
    assert_reach("batch", (x.shape[0] for _, x in drawn))


@pytest.fixture(scope="module")
def arrays(shapes: str) -> list[tuple[np.ndarray, str]]:
    return sample(hh.raw_arrays(ALL_DTYPES), 2000)


def test_tensor_elements(arrays: list[tuple[np.ndarray, str]]) -> None:
    assert_reach("elements", (array.size for array, _ in arrays))


def test_tensor_dtypes(arrays: list[tuple[np.ndarray, str]]) -> None:
    seen = {dtype for _, dtype in arrays}
    assert seen == set(ALL_DTYPES), f"observed dtypes {sorted(seen)}; expected every declared dtype {ALL_DTYPES}"


def _special_kinds(array: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore"):
        values = array.astype(np.float64)
    tiny = np.finfo(np.float32 if array.dtype == np.float32 else array.dtype).tiny
    return {
        "NaN": np.isnan(values),
        "inf": np.isinf(values),
        "-0.0": (values == 0) & np.signbit(values),
        "subnormal": (values != 0) & (np.abs(values) < tiny),
    }


def test_special_values_are_drawn_often(arrays: list[tuple[np.ndarray, str]]) -> None:
    floats = [a for a, d in arrays if d in ("float16", "float32", "float64") and a.size > 0]
    percents = []
    for array in floats:
        special = np.logical_or.reduce(list(_special_kinds(array).values()))
        percents.append(round(100 * float(special.mean())))
    assert_reach("special_percent", percents)
    for kind in ("NaN", "inf", "-0.0", "subnormal"):
        share = sum(bool(_special_kinds(a)[kind].any()) for a in floats) / len(floats)
        assert share >= 0.2, f"observed {kind} in {share:.0%} of non-empty float arrays; expected at least 20%"
    payloads = {a.view(f"u{a.dtype.itemsize}")[np.isnan(a)].tobytes() for a in floats if a.dtype == np.float32}
    assert len(payloads) > 10, f"observed {len(payloads)} distinct float32 NaN payload sets; expected more than 10"


def test_saved_containers() -> None:
    dict_sizes: list[int] = []
    list_sizes: list[int] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            dict_sizes.append(len(node))
        elif isinstance(node, list):
            list_sizes.append(len(node))

    for spec in sample(hh.io_containers(("float32", "int64"), leaf=False)):
        flatten(spec, visit)
    assert_reach("dict_keys", dict_sizes)
    assert_reach("list_items", list_sizes)


def _kinds(spec: Any, found: set[str]) -> set[str]:
    """The container kinds and key types in an ``io_containers`` value."""
    if leaf_spec(spec):
        return found
    if isinstance(spec, dict):
        found.add("dict")
        found.update("int key" for key in spec if isinstance(key, int))
        for value in spec.values():
            _kinds(value, found)
    else:
        found.add(type(spec).__name__)
        for item in spec:
            _kinds(item, found)
    return found


def test_container_keys_draw_tuples_and_int_keys() -> None:
    kept = [_kinds(s, set()) for s in sample(hh.io_containers(("float32",), leaf=False, container_keys=True), 300)]
    seen = set().union(*kept)
    assert seen >= {"list", "tuple", "dict", "int key"}, f"observed {sorted(seen)}; expected tuples and int keys too"
    plain = set().union(*(_kinds(s, set()) for s in sample(hh.io_containers(("float32",), leaf=False), 300)))
    assert plain <= {"list", "dict"}, f"observed {sorted(plain)} without container-keys; expected lists and dicts only"
    odd = [_kinds(s, set()) for s in sample(odd_containers(("float32",)), 300)]
    lacking = [k for k in odd if not k & {"tuple", "int key"}]
    assert not lacking, f"observed {len(lacking)} odd_containers draws with no tuple or int key; expected none"


def test_backward_passes() -> None:
    assert_reach("backward_passes", sample(hh.backward_passes(), 200))


def test_tie_uses() -> None:
    drawn = sample(hh.tied_sequences(FLOATS))
    assert_reach("tie_uses", (len(positions) for _, positions in drawn))
    for net, positions in drawn:
        assert isinstance(net.arch, A.Sequential), f"observed {A.describe(net.arch)}; expected a Sequential"
        shared = {id(net.arch.children[i]) for i in positions}
        assert len(shared) == 1, f"observed positions {positions} of {A.describe(net.arch)} not one layer; expected one"


def test_tied_nets_use_a_layer_more_than_twice() -> None:
    uses = [
        max(len(paths) for paths in hh.tied_linears(net.arch).values()) for net in sample(hh.tied_nets(FLOATS), 300)
    ]
    assert max(uses) >= 3, f"observed at most {max(uses)} uses of a tied layer; expected 3 or more to occur"


def shared_kinds(root: A.Node) -> set[str]:
    """What ``root`` uses at more than one path: ``Linear``, ``ReLU``, ``container`` (a Sequential or Block)."""
    uses: dict[int, tuple[A.Node, int]] = {}
    for _, node in A.walk(root):
        uses[id(node)] = (node, uses.get(id(node), (node, 0))[1] + 1)
    kinds = {type(node).__name__ for node, count in uses.values() if count > 1}
    return {"container" if kind in ("Sequential", "Block") else kind for kind in kinds}


#: The tie clauses' draws: nets(ties="any") (TIE-PARAMS-ONCE, TIE-STATE-DICT-ALIASES) and tied_nets (TIE-GRAD-SUM).
TIE_DRAWS = {
    "nets(ties='any')": lambda: hh.nets(FLOATS, containers=CONTAINERS, ties="any", max_depth=5),
    "tied_nets": lambda: hh.tied_nets(FLOATS, leaves=("linear", "relu"), containers=CONTAINERS, max_depth=3),
}


@pytest.mark.parametrize("draws", sorted(TIE_DRAWS))
def test_ties_share_containers_and_parameter_free_layers(draws: str) -> None:
    """What is shared (issue 21 point 3): a square Linear, a whole container, a ReLU, each in some of the nets,
    and each within the ci profile's 30 examples; a shared container keeps the net in its node and depth budget."""
    nets = sample(TIE_DRAWS[draws](), 300)
    kinds = [shared_kinds(net.arch) for net in nets]
    early = set().union(*(shared_kinds(net.arch) for net in sample(TIE_DRAWS[draws](), 30)))
    for kind in ("Linear", "container", "ReLU"):
        share = sum(kind in k for k in kinds) / len(nets)
        assert share >= 0.1, f"observed a shared {kind} in {share:.0%} of {draws} draws; expected at least 10%"
        assert kind in early, f"observed no shared {kind} in a run of 30 {draws} draws; expected one"
    if draws == "nets(ties='any')":  # tied_nets may append a shared layer past the budget: that is its own draw
        assert_reach("nodes", (sum(1 for _ in A.walk(net.arch)) - 1 for net in nets))
        deepest = max(max(depth for depth, _ in containers_of(net.arch)) for net in nets)
        assert deepest <= hh.REACH["depth"].high, f"observed nesting {deepest} with ties; expected at most 5"


@pytest.fixture(scope="module")
def param_tied(shapes: str) -> list[hh.Net]:
    return sample(param_tied_nets(FLOATS), 500)


def test_param_tie_uses_and_types(param_tied: list[hh.Net]) -> None:
    groups = [(net, key, paths) for net in param_tied for key, paths in A.weight_uses(net.arch).items()]
    many = [net for net in param_tied if len(A.weight_uses(net.arch)) != 1]
    assert not many, f"observed {len(many)} nets without exactly one shared weight, e.g. {many[0]!r}; expected one"
    assert_reach("param_tie_uses", (len(paths) for _, _, paths in groups))
    assert_reach("param_tie_types", (len(weight_use_types(net.arch, key)) for net, key, _ in groups))


def test_param_ties_meet_module_reuse_and_a_late_owner(param_tied: list[hh.Net]) -> None:
    """Some nets reuse a layer holding the shared weight; in some the weight's first path is not its owner's."""
    reused = late = 0
    for net in param_tied:
        ((owner, _),) = A.weight_ties(net.arch)
        ((_, paths),) = A.weight_uses(net.arch).items()
        at = dict(A.walk(net.arch))
        holders = [id(at[path]) for path in paths]  # the layers at each use of the shared weight
        reused += len(set(holders)) < len(holders)
        late += at[paths[0]] is not owner
    share = {"module reuse": reused / len(param_tied), "a first path not the owner's": late / len(param_tied)}
    for what, value in share.items():
        assert value >= 0.2, f"observed {what} in {value:.0%} of param-tied nets; expected at least 20%"


def test_every_dimension_is_checked() -> None:
    checked = {
        "children",
        "depth",
        "nodes",
        "width",
        "net_width",
        "batch",
        "elements",
        "special_percent",
        "dict_keys",
        "list_items",
        "backward_passes",
        "tie_uses",
        "param_tie_uses",
        "param_tie_types",
    }
    assert set(hh.REACH) == checked, f"observed REACH dimensions {sorted(hh.REACH)}; expected {sorted(checked)}"
