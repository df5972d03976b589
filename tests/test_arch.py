"""conformance.arch: architectures as data: the walk, building a tree once per node, widths, paths and ties.

``tests/backends/test_kit.py`` builds trees through the adapters; here arch's own contract is pinned, on
written examples and on every net the suite's strategies draw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import arch as A
from conformance.kit import strategies as hh

LEAVES = ("linear", "linear_maybe_bias", "relu", "centered", "my_linear")
CONTAINERS = ("sequential", "named", "block", "my_sequential")
#: Every kind of net the suite draws: layers reused anywhere, weight tensors shared across layer types.
ANY_NET = st.one_of(
    hh.nets(ties="any", leaves=LEAVES, containers=CONTAINERS),
    hh.tied_nets(),
    hh.param_tied_nets(),
)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Built:
    """What a stand-in ``make`` returns: the node it was made from and its built children."""

    def __init__(self, node: A.Node, children: list[tuple[str, Built]]) -> None:
        self.node, self.children = node, children
        self.weight = object()  # a tensor of its own until a tie replaces it


def _built_at_paths(module: Built, path: str = "") -> dict[str, Built]:
    found = {path: module}
    for name, child in module.children:
        found.update(_built_at_paths(child, _join(path, name)))
    return found


# --- the walk ---------------------------------------------------------------------------------------------


def test_walk_lists_a_shared_node_under_every_path_in_registration_order() -> None:
    shared, first, relu = A.Linear(8, 8), A.Linear(4, 8), A.ReLU()
    inner = A.Sequential((shared,), names=("x",))
    block = A.Block((("a", shared), ("inner", inner)))
    root = A.Sequential((first, shared, block, relu))
    expected = [
        ("", root),
        ("0", first),
        ("1", shared),
        ("2", block),
        ("2.a", shared),
        ("2.inner", inner),
        ("2.inner.x", shared),
        ("3", relu),
    ]
    observed = list(A.walk(root))
    same = len(observed) == len(expected) and all(
        p == q and n is m for (p, n), (q, m) in zip(observed, expected, strict=True)
    )
    assert same, f"observed {[(p, n) for p, n in observed]}; expected {expected}"
    prefixed = [path for path, _ in A.walk(block, "net")]
    assert prefixed == ["net", "net.a", "net.inner", "net.inner.x"], f"observed {prefixed}; expected under 'net'"


@settings(max_examples=40, deadline=None)
@given(net=ANY_NET)
def test_walk_is_every_position_of_the_tree_each_parent_before_its_children(net: hh.Net) -> None:
    walked = list(A.walk(net.arch))
    where = {path: (index, node) for index, (path, node) in enumerate(walked)}
    assert len(where) == len(walked), f"{net}: observed a path listed twice in {[p for p, _ in walked]}"
    children = [
        (index, _join(path, name), child)
        for index, (path, node) in enumerate(walked)
        for name, child in A.children(node)
    ]
    for parent_index, path, child in children:
        index, node = where.get(path, (-1, None))
        assert node is child and index > parent_index, (
            f"{net}: observed {path!r} -> {node!r} at {index}; expected {child!r} listed after its parent ({parent_index})"
        )
    assert len(walked) == 1 + len(children), f"{net}: observed {len(walked)} positions; expected 1 + {len(children)}"


def test_children_are_registered_by_index_by_the_names_given_or_by_attribute() -> None:
    a, b = A.ReLU(), A.Centered()
    cases: dict[str, tuple[A.Node, list[tuple[str, A.Node]]]] = {
        "Sequential": (A.Sequential((a, b)), [("0", a), ("1", b)]),
        "named Sequential": (A.Sequential((a, b), names=("first", "second")), [("first", a), ("second", b)]),
        "Block": (A.Block((("act", a), ("center", b))), [("act", a), ("center", b)]),
        "a leaf": (A.Linear(2, 2), []),
    }
    for case, (node, expected) in cases.items():
        observed = list(A.children(node))
        assert observed == expected, f"{case}: observed {observed}; expected {expected}"


def test_nodes_compare_by_identity_so_equal_looking_layers_stay_two() -> None:
    one, two = A.Linear(2, 3), A.Linear(2, 3)
    assert one != two and repr(one) == repr(two), f"observed {one!r} == {two!r}; expected two distinct layers"
    assert one == one and len({one, two}) == 2, "observed a layer not equal to itself, or two layers hashed as one"


# --- building a tree --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(net=ANY_NET)
def test_build_tree_makes_each_distinct_node_once_and_reuses_it_at_every_path(net: hh.Net) -> None:
    made: list[A.Node] = []

    def make(node: A.Node, build_child: Any) -> Built:
        made.append(node)
        return Built(node, [(name, build_child(child)) for name, child in A.children(node)])

    module = A.build_tree(net.arch, make, tie=lambda owner, user: None)
    distinct = {id(node) for _, node in A.walk(net.arch)}
    assert len(made) == len(distinct) == len({id(n) for n in made}), (
        f"{net}: observed {len(made)} make calls for {len({id(n) for n in made})} nodes; expected one per node, "
        f"{len(distinct)}"
    )
    built = _built_at_paths(module)
    nodes = dict(A.walk(net.arch))
    assert all(built[path].node is node for path, node in nodes.items()), f"{net}: observed a module of another node"
    for p in nodes:
        for q in nodes:
            assert (built[p] is built[q]) == (nodes[p] is nodes[q]), (
                f"{net}: observed {p!r} and {q!r} built {'as one' if built[p] is built[q] else 'apart'}; expected "
                f"one module exactly where one node sits at both"
            )


@settings(max_examples=40, deadline=None)
@given(net=ANY_NET)
def test_build_tree_ties_each_weight_user_to_its_owner_once_after_building(net: hh.Net) -> None:
    events: list[Any] = []

    def make(node: A.Node, build_child: Any) -> Built:
        events.append("make")
        return Built(node, [(name, build_child(child)) for name, child in A.children(node)])

    A.build_tree(net.arch, make, tie=lambda owner, user: events.append((owner.node, user.node)))
    ties = [e for e in events if e != "make"]
    observed = sorted((id(owner), id(user)) for owner, user in ties)
    expected = sorted(
        {
            (id(node.weight_of), id(node))
            for _, node in A.walk(net.arch)
            if isinstance(node, (A.Linear, A.MyLinear)) and node.weight_of is not None
        }
    )
    assert observed == expected, f"{net}: observed ties {ties}; expected one per layer naming an owner"
    first_tie = events.index(ties[0]) if ties else len(events)
    assert "make" not in events[first_tie:], f"{net}: observed a make after a tie ({events}); expected ties last"


def test_build_tree_asks_reuse_at_each_later_use_of_a_node_and_puts_its_answer_there() -> None:
    shared = A.Linear(2, 2)
    inner = A.Sequential((shared,))
    root = A.Sequential((shared, inner, shared, inner))
    asked: list[tuple[A.Node, int]] = []

    def make(node: A.Node, build_child: Any) -> Built:
        return Built(node, [(name, build_child(child)) for name, child in A.children(node)])

    def reuse(module: Built, use: int, rebuild: Any) -> Built:
        asked.append((module.node, use))
        return rebuild() if use == 3 else module  # the third use built anew, the others shared

    built = dict(A.build_tree(root, make, reuse=reuse).children)
    expected = [(shared, 2), (shared, 3), (inner, 2)]  # inner's shared layer is its second use; inner is built once
    assert asked == expected, f"observed reuse asked {asked}; expected {expected}"
    first, again = built["0"], built["2"]
    assert dict(built["1"].children)["0"] is first, "observed the second use not given the module reuse returned"
    assert again is not first and again.node is shared, "observed the third use not rebuilt as reuse asked"
    assert built["3"] is built["1"], "observed the container's second use not the module reuse returned"


def test_equal_looking_layers_are_built_twice() -> None:
    left, right = A.Linear(2, 2), A.Linear(2, 2)
    made: list[A.Node] = []

    def make(node: A.Node, build_child: Any) -> Built:
        made.append(node)
        return Built(node, [(name, build_child(child)) for name, child in A.children(node)])

    module = A.build_tree(A.Sequential((left, right)), make)
    built = dict(module.children)
    assert len(made) == 3 and built["0"] is not built["1"], f"observed {made}; expected a module for each layer"


def test_the_default_tie_makes_the_user_hold_the_owners_weight() -> None:
    owner = A.Linear(3, 3, bias=False)
    user = A.MyLinear(3, 3, weight_of=owner)

    def make(node: A.Node, build_child: Any) -> Built:
        return Built(node, [(name, build_child(child)) for name, child in A.children(node)])

    built = dict(A.build_tree(A.Sequential((owner, A.ReLU(), user)), make).children)
    assert built["2"].weight is built["0"].weight, "observed the user with a weight of its own; expected the owner's"
    assert built["1"].weight is not built["0"].weight, "observed the ReLU given the owner's weight; expected no tie"


def test_a_weight_owner_missing_from_the_tree_is_refused() -> None:
    owner = A.Linear(3, 3)
    tree = A.Sequential((A.MyLinear(3, 3, weight_of=owner),))
    with pytest.raises(ValueError, match="Expected the weight's owner Linear\\(3, 3\\) in the tree"):
        A.build_tree(tree, lambda node, build_child: Built(node, [(n, build_child(c)) for n, c in A.children(node)]))


# --- widths, paths and ties -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(net=ANY_NET)
def test_output_width_is_the_width_the_drawn_net_ends_in(net: hh.Net) -> None:
    observed = A.output_width(net.arch, net.in_width)
    assert observed == net.out_width, f"{net}: observed output width {observed}; expected {net.out_width}"


def test_output_width_of_each_kind_of_node() -> None:
    cases: dict[str, tuple[A.Node, int]] = {
        "Linear": (A.Linear(3, 5), 5),
        "LazyLinear": (A.LazyLinear(7), 7),
        "MyLinear": (A.MyLinear(3, 4), 4),
        "ReLU keeps it": (A.ReLU(), 9),
        "Centered keeps it": (A.Centered(), 9),
        "an empty Sequential keeps it": (A.Sequential(()), 9),
        "a chain": (A.Sequential((A.Linear(9, 2), A.ReLU(), A.Block((("out", A.MyLinear(2, 6)),)))), 6),
    }
    for case, (node, expected) in cases.items():
        observed = A.output_width(node, 9)
        assert observed == expected, f"{case}: observed {observed}; expected {expected}"


def test_state_dict_keys_list_every_path_and_parameter_names_each_tensor_once() -> None:
    shared = A.Linear(2, 2)
    owner = A.Linear(3, 3, bias=False)
    cases: dict[str, tuple[A.Node, list[str], list[str]]] = {
        "a root leaf": (A.Linear(2, 3), ["weight", "bias"], ["weight", "bias"]),
        "a reused layer": (
            A.Sequential((shared, A.ReLU(), shared)),
            ["0.weight", "0.bias", "2.weight", "2.bias"],
            ["0.weight", "0.bias"],
        ),
        "a weight held by another layer type": (
            A.Sequential((owner, A.Block((("mine", A.MyLinear(3, 3, weight_of=owner)),)))),
            ["0.weight", "1.mine.weight", "1.mine.bias"],
            ["0.weight", "1.mine.bias"],
        ),
    }
    for case, (root, keys, names) in cases.items():
        observed = (A.state_dict_keys(root), A.parameter_names(root))
        assert observed == (keys, names), f"{case}: observed (keys, names) {observed}; expected {(keys, names)}"


@settings(max_examples=40, deadline=None)
@given(net=ANY_NET)
def test_parameter_names_are_one_per_tensor_among_the_state_dict_keys(net: hh.Net) -> None:
    keys, names = A.state_dict_keys(net.arch), A.parameter_names(net.arch)
    tensors = {A.parameter_key(node, leaf) for _, node in A.walk(net.arch) for leaf, _ in A.leaf_parameters(node)}
    expected_keys = sum(len(A.leaf_parameters(node)) for _, node in A.walk(net.arch))
    assert len(keys) == len(set(keys)) == expected_keys, f"{net}: observed keys {keys}; expected {expected_keys}"
    assert len(names) == len(tensors) and set(names) <= set(keys), (
        f"{net}: observed names {names}; expected {len(tensors)} of the keys {keys}"
    )
    shapes = A.parameter_shapes(net.arch)
    assert list(shapes) == keys, f"{net}: observed shapes for {list(shapes)}; expected one per key {keys}"


def test_parameter_shapes_store_each_weight_in_its_layer_types_layout() -> None:
    root = A.Sequential((A.Linear(2, 3), A.MyLinear(3, 4), A.Linear(4, 1, bias=False)))
    cases = {
        "the chapter's": (A.CHAPTER_LAYOUTS, {"0.weight": (3, 2), "1.weight": (3, 4), "2.weight": (1, 4)}),
        "all in_out": (
            dict.fromkeys(A.LAYER_KINDS, A.IN_OUT),
            {"0.weight": (2, 3), "1.weight": (3, 4), "2.weight": (4, 1)},
        ),
        "all out_in": (
            dict.fromkeys(A.LAYER_KINDS, A.OUT_IN),
            {"0.weight": (3, 2), "1.weight": (4, 3), "2.weight": (1, 4)},
        ),
    }
    for case, (layouts, weights) in cases.items():
        expected = {**weights, "0.bias": (3,), "1.bias": (4,)}
        observed = A.parameter_shapes(root, layouts)
        assert observed == expected, f"{case} layouts: observed {observed}; expected {expected}"


def test_check_layouts_completes_the_chapters_and_refuses_unknown_kinds_or_layouts() -> None:
    observed = A.check_layouts({"Linear": A.IN_OUT})
    expected = {"Linear": A.IN_OUT, "LazyLinear": A.OUT_IN, "MyLinear": A.IN_OUT}
    assert observed == expected, f"observed {observed}; expected {expected}"
    for case, layouts, words in (
        ("an unknown kind", {"Dense": A.IN_OUT}, "Expected weight layouts for layer kinds of"),
        ("an unknown layout", {"Linear": "rows"}, "Expected each weight layout to be 'out_in' or 'in_out'"),
    ):
        with pytest.raises(ValueError) as caught:
            A.check_layouts(layouts)
        assert words in str(caught.value), f"{case}: observed {str(caught.value)!r}; expected {words!r} in it"


def test_reoriented_transposes_only_between_differing_layouts_and_back() -> None:
    weight = np.arange(6.0).reshape(2, 3)
    same = A.reoriented("Linear", weight, A.CHAPTER_LAYOUTS)
    assert same is weight, "observed a copy for the chapter's own layout; expected the array itself"
    there = A.reoriented("Linear", weight, {"Linear": A.IN_OUT})
    assert there.shape == (3, 2) and there.flags.c_contiguous, f"observed {there.shape}; expected a contiguous (3, 2)"
    back = A.reoriented("Linear", there, {"Linear": A.IN_OUT})
    assert np.array_equal(back, weight), f"observed {back}; expected the chapter's array back"


def test_a_tied_layer_stores_its_owners_array_and_computes_with_it_in_its_own_layout() -> None:
    w = np.arange(9.0).reshape(3, 3)
    owner = A.Linear(3, 3, False, A.LinearValues(w, None))
    user = A.MyLinear(3, 3, A.LinearValues(w, np.zeros(3)), weight_of=owner)
    flax_like = {"Linear": A.IN_OUT}
    cases: dict[str, tuple[Mapping[str, str], A.Linear | A.MyLinear, Callable[..., np.ndarray], np.ndarray]] = {
        "owner stores, chapter": (A.CHAPTER_LAYOUTS, owner, A.stored_weight, w),
        "user stores the owner's, chapter": (A.CHAPTER_LAYOUTS, user, A.stored_weight, w),
        "user computes with, chapter": (A.CHAPTER_LAYOUTS, user, A.weight_in_use, w),
        "owner stores, in_out": (flax_like, owner, A.stored_weight, w.T),
        "owner computes with, in_out": (flax_like, owner, A.weight_in_use, w),
        "user stores the owner's, in_out": (flax_like, user, A.stored_weight, w.T),
        "user computes with, in_out": (flax_like, user, A.weight_in_use, w.T),
        "a gradient stored, in_out": (flax_like, owner, lambda n, lay: A.stored_gradient(n, w, lay), w.T),
    }
    for case, (layouts, node, function, expected) in cases.items():
        observed = function(node, layouts)
        assert np.array_equal(observed, expected), f"{case}: observed\n{observed}\nexpected\n{expected}"
    with pytest.raises(ValueError, match="Expected explicit values on the layer owning the weight"):
        A.stored_weight(A.MyLinear(3, 3, weight_of=A.Linear(3, 3)))


def test_a_tie_must_name_a_linear_layer_that_owns_a_weight_of_the_right_shape() -> None:
    owner = A.Linear(2, 3)  # stores (3, 2)
    A.MyLinear(3, 2, weight_of=owner)  # stores (in_units, units) = (3, 2): fits
    A.Linear(2, 3, weight_of=owner)  # the same (out, in): fits
    user = A.Linear(3, 3, weight_of=A.Linear(3, 3))
    cases: dict[str, tuple[Any, type[Exception], str]] = {
        "a ReLU": (
            lambda: A.Linear(2, 2, weight_of=A.ReLU()),  # type: ignore[arg-type]
            TypeError,
            "Expected weight_of to be a Linear or MyLinear",
        ),
        "another user": (lambda: A.Linear(3, 3, weight_of=user), ValueError, "to name the weight's owner"),
        "a wrong shape": (lambda: A.Linear(3, 2, weight_of=owner), ValueError, "with a stored weight of shape (2, 3)"),
    }
    for case, (make, error, words) in cases.items():
        with pytest.raises(error) as caught:
            make()
        assert words in str(caught.value), f"{case}: observed {str(caught.value)!r}; expected {words!r} in it"


def test_weight_ties_and_weight_uses_group_every_use_of_one_tensor() -> None:
    owner = A.Linear(3, 3)
    user = A.MyLinear(3, 3, weight_of=owner)
    reused = A.Linear(3, 3)
    root = A.Sequential((owner, user, reused, A.Block((("again", user), ("back", reused)))))
    ties = A.weight_ties(root)
    assert len(ties) == 1 and ties[0][0] is owner and ties[0][1] == [user], (
        f"observed ties {ties}; expected the owner with its one user, listed once though used twice"
    )
    uses = A.weight_uses(root)
    expected = {id(owner): ["0", "1", "3.again"], id(reused): ["2", "3.back"]}
    assert uses == expected, f"observed uses {uses}; expected {expected}"
    assert A.weight_uses(A.Sequential((A.Linear(2, 2), A.Linear(2, 2)))) == {}, "observed a use in an untied net"


def test_modules_post_order_visits_children_first_each_once_per_parent() -> None:
    shared = A.Linear(2, 2)
    inner = A.Sequential((shared, shared))
    root = A.Block((("a", inner), ("b", shared), ("c", inner)))
    observed = A.modules_post_order(root)
    expected = [shared, inner, shared, root]
    same = len(observed) == len(expected) and all(o is e for o, e in zip(observed, expected, strict=True))
    assert same, f"observed {observed}; expected {expected}"


def test_describe_labels_a_shared_node_and_a_shared_weight() -> None:
    shared = A.Linear(8, 8)
    owner = A.Linear(4, 4, bias=False)
    root = A.Sequential(
        (
            A.Sequential((shared, A.ReLU()), names=("lin", "act"), custom=True),
            shared,
            owner,
            A.Block((("mine", A.MyLinear(4, 4, weight_of=owner)),)),
        )
    )
    expected = (
        "Sequential(MySequential('lin': @1=Linear(8, 8), 'act': ReLU()), @1, Linear(4, 4, bias=False, weight=w1), "
        "Block(mine=MyLinear(4, 4, weight=w1)))"
    )
    assert A.describe(root) == expected, f"observed {A.describe(root)!r}; expected {expected!r}"
