"""conformance.backends._children: a container's ``index``, ``length`` and ``iterate``, either read from the
adapter's ``named_children`` (frameworks whose Sequential is a list of layers) or asked of the framework's
own ``net[i]``, ``len(net)`` and ``list(net)``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backends._children import ChildrenByPosition, IndexedByFramework
from reference import nn

#: A few children; a container may hold one of them at several positions (a shared layer).
_POOL = [object() for _ in range(4)]


class _Listed(ChildrenByPosition):
    """An adapter whose container is a list of (registration name, child) pairs, read anew at each call."""

    def __init__(self) -> None:
        self.reads = 0

    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        self.reads += 1
        return list(module)


class _Recorded:
    """A framework's container that answers ``net[i]``, ``len(net)`` and ``iter(net)`` on its own, and
    records each question: no registration order to read it from."""

    def __init__(self, items: list[Any]) -> None:
        self.items, self.asked = items, []

    def __getitem__(self, i: int) -> Any:
        self.asked.append(("getitem", i))
        return self.items[i]

    def __len__(self) -> int:
        self.asked.append(("len", None))
        return len(self.items)

    def __iter__(self) -> Any:
        self.asked.append(("iter", None))
        return iter(self.items)


_CHILDREN = st.lists(st.tuples(st.text("abc0123", min_size=1, max_size=3), st.sampled_from(_POOL)), max_size=6).map(
    list
)


@settings(max_examples=60, deadline=None)
@given(children=_CHILDREN)
def test_by_position_index_length_and_iterate_follow_named_children(children: list[tuple[str, Any]]) -> None:
    adapter = _Listed()
    n = len(children)
    expected = [child for _, child in children]
    assert adapter.length(children) == n, f"{n} children: observed length {adapter.length(children)}; expected {n}"
    items = adapter.iterate(children)
    assert type(items) is list and items == expected, (
        f"{n} children: observed iterate {items!r}; expected the list of children in registration order"
    )
    for i in range(-n, n):
        got = adapter.index(children, i)
        assert got is children[i][1], f"{n} children: observed index {i} -> {got!r}; expected {children[i][1]!r}"
    for i in (n, -n - 1):
        with pytest.raises(IndexError):
            adapter.index(children, i)
            pytest.fail(f"{n} children: observed index {i} answered; expected IndexError as net[{i}] raises")


def test_by_position_reads_the_children_anew_each_time() -> None:
    """A child appended after a first question is seen by the next one: nothing is cached."""
    adapter = _Listed()
    children = [("0", _POOL[0])]
    before = (adapter.length(children), adapter.iterate(children))
    children.append(("1", _POOL[1]))
    after = (adapter.length(children), adapter.iterate(children), adapter.index(children, -1))
    assert before == (1, [_POOL[0]]), f"one child: observed (length, iterate) {before}; expected (1, [child 0])"
    assert after == (2, [_POOL[0], _POOL[1]], _POOL[1]), (
        f"a child appended: observed (length, iterate, index -1) {after}; expected the new child counted and found"
    )
    assert adapter.reads == 5, f"observed named_children read {adapter.reads} times; expected once per question (5)"


def test_by_position_needs_the_adapters_named_children() -> None:
    for member, call in (
        ("index", lambda a: a.index([], 0)),
        ("length", lambda a: a.length([])),
        ("iterate", lambda a: a.iterate([])),
    ):
        with pytest.raises(NotImplementedError):
            call(ChildrenByPosition())
            pytest.fail(f"{member} without named_children: observed an answer; expected NotImplementedError")


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.sampled_from(_POOL), max_size=6).map(list))
def test_by_framework_asks_the_container_itself_negative_indices_included(items: list[Any]) -> None:
    adapter = IndexedByFramework()
    n = len(items)
    for i in range(-n, n):
        net = _Recorded(items)
        got = adapter.index(net, i)
        assert got is items[i] and net.asked == [("getitem", i)], (
            f"index {i} of {n}: observed {got!r} after {net.asked}; expected net[{i}] asked once, as given"
        )
    net = _Recorded(items)
    length = adapter.length(net)
    assert length == n and net.asked == [("len", None)], f"observed length {length} after {net.asked}; expected len()"
    net = _Recorded(items)
    listed = adapter.iterate(net)
    asked = [kind for kind, _ in net.asked]
    assert type(listed) is list and listed == items and asked.count("iter") == 1 and "getitem" not in asked, (
        f"observed iterate {listed!r} after {net.asked}; expected list(net): one iteration, no indexing"
    )


def test_by_framework_gives_what_the_references_sequential_gives() -> None:
    shared = nn.Linear(3, 3)
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), shared, nn.ReLU(), shared)
    adapter = IndexedByFramework()
    n = len(net)
    observed = ([adapter.index(net, i) for i in range(-n, n)], adapter.length(net), adapter.iterate(net))
    expected = ([net[i] for i in range(-n, n)], n, list(net))
    assert observed[1] == expected[1] == 5, f"reference Sequential: observed length {observed[1]}; expected 5"
    for what, got, want in (("index", observed[0], expected[0]), ("iterate", observed[2], expected[2])):
        same = [a is b for a, b in zip(got, want, strict=True)]
        assert all(same), f"reference Sequential {what}: observed {got}; expected the very modules {want}"


def test_a_list_adapter_reads_a_tinygrad_sequential_by_position() -> None:
    """tinygrad's Sequential is a plain list of layers: its adapter indexes through ``named_children``."""
    pytest.importorskip("tinygrad")
    from conformance.backends.tinygrad import TinygradBackend

    # Made without __init__, whose bfloat16 probe compiles a kernel (seconds): named_children needs none of it.
    backend = TinygradBackend.__new__(TinygradBackend)
    shared = object()
    layers = [shared, abs, shared]  # a layer reused, and a function as tinygrad's relu is one
    observed = (backend.length(layers), backend.iterate(layers), [backend.index(layers, i) for i in (-3, 1, 2)])
    expected = (3, layers, [shared, abs, shared])
    assert observed == expected, f"tinygrad list [shared, abs, shared]: observed {observed}; expected {expected}"
