"""The adapter kit (conformance/backends/_kit.py): the walk, dedup, refusals, the chapter and init tables."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from conformance import arch as A
from conformance._protocol import CHAPTER_BLOCKS, INITIALIZERS, LoadRejected
from conformance.backends import _kit as kit


class _Node:
    def __init__(self, own: list[tuple[str, object]], children: list[tuple[str, Any]]) -> None:
        self.own, self.children = own, children


def _walk(root: _Node) -> list[tuple[str, object]]:
    return [(path, handle) for path, _, _, handle in kit.walk(root, lambda m: m.own, lambda m: m.children)]


def test_walk_lists_a_shared_child_under_every_path_and_first_paths_once() -> None:
    weight = object()
    shared = _Node([("weight", weight)], [])
    root = _Node([], [("0", shared), ("1", _Node([], [])), ("2", shared)])
    walked = _walk(root)
    assert walked == [("0.weight", weight), ("2.weight", weight)], f"observed {walked}; expected both alias paths"
    once = kit.first_paths(walked)
    assert once == [("0.weight", weight)], f"observed {once}; expected the first path only"


def test_first_paths_tells_handles_apart_by_the_identity_given() -> None:
    variable = object()
    views = [("a", types.SimpleNamespace(v=variable)), ("b", types.SimpleNamespace(v=variable))]
    kept = kit.first_paths(views, identity=lambda view: view.v)
    assert [path for path, _ in kept] == ["a"], f"observed {kept}; expected one handle per variable"


def test_refusals_keep_the_frameworks_message_and_name_the_key() -> None:
    with (
        pytest.raises(LoadRejected, match=r"^0\.weight: ValueError: shapes differ$"),
        kit.refusals(ValueError, key="0.weight"),
    ):
        raise ValueError("shapes differ")
    with pytest.raises(KeyError), kit.refusals(ValueError):  # not a refusal the framework makes: passes through
        raise KeyError("other")


def test_an_assertion_inside_a_framework_is_its_crash_and_anything_else_passes_through() -> None:
    class Crash(RuntimeError):
        pass

    with pytest.raises(RuntimeError, match=r"^Keras raised AssertionError: inner$") as raised, kit.inside("Keras"):
        raise AssertionError("inner")
    assert not isinstance(raised.value, AssertionError), f"observed {type(raised.value).__mro__}; expected no check"
    with pytest.raises(Crash, match=r"^tinygrad raised AssertionError"), kit.inside("tinygrad", Crash):
        raise AssertionError("inner")
    with pytest.raises(ValueError, match="the framework's own"), kit.inside("Paddle"):
        raise ValueError("the framework's own")


def test_chapter_table_covers_every_chapter_block() -> None:
    names = ("MLP", "FixedHiddenMLP", "block1", "block2", "rgnet", "tied_net", "CenteredLayer", "MyLinear")
    blocks = types.SimpleNamespace(**{name: (lambda *a, _n=name, **k: (_n, a, k)) for name in names})
    table = kit.chapter_table(blocks, lambda: "my sequential", rngs="r")
    assert set(table) == set(CHAPTER_BLOCKS), f"observed {sorted(table)}; expected {sorted(CHAPTER_BLOCKS)}"
    assert kit.chapter_block(table, "MyLinear") == ("MyLinear", (5, 3), {"rngs": "r"})
    assert kit.chapter_block(table, "CenteredLayer") == ("CenteredLayer", (), {})
    with pytest.raises(ValueError, match="Expected a block of"):
        kit.chapter_block(table, "ResNet")


def test_initializer_table_is_checked_against_the_protocol() -> None:
    with pytest.raises(ValueError, match="xavier_uniform"):
        kit.initializer_table({name: (lambda **k: k) for name in INITIALIZERS if name != "xavier_uniform"})
    table = kit.initializer_table({name: (lambda **k: k) for name in INITIALIZERS})
    assert kit.initializer(table, "normal", {"mean": 0.0, "std": 1.0}) == {"mean": 0.0, "std": 1.0}
    with pytest.raises(ValueError, match="scheme='orthogonal'"):
        kit.initializer(table, "orthogonal", {})
    with pytest.raises(ValueError, match="Expected arguments"):
        kit.initializer(table, "normal", {"mean": 0.0})


def test_stored_values_follow_the_declared_layout() -> None:
    weight = np.arange(6.0).reshape(3, 2)  # a Linear(2, 3): (out, in) in the chapter's layout
    node = A.Linear(2, 3, True, A.LinearValues(weight, np.zeros(3)))
    chapter = kit.stored_values(node, A.CHAPTER_LAYOUTS)
    flax_like = kit.stored_values(node, {"Linear": A.IN_OUT})
    assert chapter is not None and np.array_equal(chapter[0], weight)
    assert flax_like is not None and np.array_equal(flax_like[0], weight.T), "observed no transpose for (in, out)"
    assert kit.stored_values(A.Linear(2, 3), A.CHAPTER_LAYOUTS) is None


def test_maker_builds_each_kind_of_node_with_the_call_given_and_refuses_what_it_lacks() -> None:
    built: list[str] = []

    def leaf(kind: str) -> Any:
        return lambda *args: built.append(kind) or kind

    leaves = {kind: leaf(kind) for kind in ("linear", "my_linear", "relu", "centered")}
    make = kit.maker(
        "Toy",
        **leaves,
        block=lambda kids: ("block", kids),
        sequential=lambda *kids: ("sequential", kids),
        my_sequential=lambda *kids: ("my_sequential", kids),
        named=lambda: None,
    )
    tree = A.Sequential((A.Linear(2, 3), A.ReLU(), A.Block((("body", A.MyLinear(3, 3)),)), A.Centered()), custom=True)
    out = A.build_tree(tree, make)
    expected = ("my_sequential", ("linear", "relu", ("block", [("body", "my_linear")]), "centered"))
    assert out == expected, f"observed {out}; expected {expected}"
    assert built == ["linear", "relu", "my_linear", "centered"], f"observed calls {built}; expected one per leaf"
    with pytest.raises(TypeError, match=r"Toy can build \(no lazy layers\)"):
        make(A.LazyLinear(3), lambda n: n)
    lazy = kit.maker(
        "Lazy", **leaves, lazy_linear=leaf("lazy"), block=list, sequential=list, my_sequential=list, named=list
    )
    assert lazy(A.LazyLinear(3), lambda n: n) == "lazy", "observed a LazyLinear not built by lazy_linear"
