"""The INTEROP-* clauses: A's safetensors file of a drawn architecture, read by B.

Each test draws an architecture (widths, nesting, reused layers, a float dtype both sides declare),
builds it in A with its values, has A write it with its own safetensors integration and B read it with
its own, then checks one clause. Keys and layouts are mapped by the two backends' declarations alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
from hypothesis import given
from hypothesis import strategies as st

from conformance import arch as A
from conformance._protocol import Backend, weight_layouts
from conformance.interop import Pair, offers_interop
from conformance.kit import oracle
from conformance.kit import strategies as hh
from conformance.kit.checks import Check
from conformance.kit.outcomes import not_applicable

LEAVES = ("linear", "relu", "my_linear")
HALF_DTYPES = ("bfloat16", "float16")


@dataclass
class Entry:
    """A key of the file: the architecture path, layer and leaf it names, and its tensor's group."""

    path: str
    node: A.Linear | A.MyLinear
    leaf: str
    group: tuple[int, str]


@dataclass
class Exchange:
    """What one draw produced: the net, A's model, the file as B read it, and the key map."""

    net: hh.Net
    model: Any
    tensors: dict[str, Any]
    aliases: dict[str, str]
    entries: dict[str, Entry]  # every key A's naming gives the architecture


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="blockspec-interop-") as name:
        yield Path(name)


def _names(backend: Backend) -> dict[str, str]:
    return dict(getattr(backend, "interop_names", {}) or {})


def _entries(root: A.Node, names: dict[str, str]) -> dict[str, Entry]:
    """Every key a backend naming the architecture's paths as ``names`` declares gives ``root``.

    ``names`` (a backend's ``interop_names``): ``"Sequential"``, the template of a plain sequential
    container's child (Flax' ``"layers.{}"``); ``"Kind.leaf"`` or ``"leaf"``, a parameter's name
    (Flax' ``{"Linear.weight": "kernel"}``). Anything not named keeps the architecture's own name.
    """
    out: dict[str, Entry] = {}

    def visit(node: A.Node, key: str, path: str) -> None:
        if isinstance(node, (A.Linear, A.MyLinear)):
            for leaf, _ in A.leaf_parameters(node):
                name = names.get(f"{type(node).__name__}.{leaf}", names.get(leaf, leaf))
                out[f"{key}.{name}" if key else name] = Entry(path, node, leaf, A.parameter_key(node, leaf))
        plain = isinstance(node, A.Sequential) and node.names is None and not node.custom
        for child_name, child in A.children(node):
            part = names.get("Sequential", "{}").format(child_name) if plain else child_name
            visit(child, f"{key}.{part}" if key else part, f"{path}.{child_name}" if path else child_name)

    visit(root, "", "")
    return out


def _usable(pair: Pair) -> tuple[str, ...]:
    for side, backend in (("writer", pair.writer), ("reader", pair.reader)):
        lacking = offers_interop(backend)
        if lacking:
            not_applicable(f"{backend.name} ({side}) offers no {', '.join(lacking)}: no safetensors path")
    dtypes = tuple(d for d in pair.writer.float_dtypes if d in pair.reader.float_dtypes)
    if not dtypes:
        not_applicable(f"{pair.writer.name} and {pair.reader.name} declare no float dtype in common")
    return dtypes


def exchange(pair: Pair, data: st.DataObject, dtypes: tuple[str, ...], *, halves: bool = False) -> Exchange:
    """Draw a net, build it in A, write it with A and read it with B.

    With ``halves``, A's model is also converted (``module_to_dtype``) to bfloat16 or float16 when both
    sides declare it and A can convert: the clauses on the file itself are checked in those dtypes too.
    """
    tied = data.draw(st.booleans(), label="a reused layer")
    strategy = hh.tied_nets(dtypes, leaves=LEAVES) if tied else hh.nets(dtypes, leaves=LEAVES)
    net = data.draw(strategy, label="net")
    model = pair.writer.build(net.arch, dtype=net.dtype)
    if halves and "dtype-conversion" in pair.writer.capabilities:
        both = [d for d in HALF_DTYPES if d in pair.writer.dtypes and d in pair.reader.dtypes]
        if both:
            half: str | None = data.draw(st.sampled_from([None, *both]), label="stored in a half dtype")
            if half is not None:
                model = pair.writer.module_to_dtype(model, half)
    with _scratch() as directory:
        path = directory / "model.safetensors"
        pair.writer.write_safetensors(model, path)  # type: ignore[attr-defined]
        tensors = dict(pair.reader.read_safetensors(path))  # type: ignore[attr-defined]
        with safetensors.safe_open(str(path), "numpy") as handle:  # the format's own header, for aliases
            aliases = dict(handle.metadata() or {})
    return Exchange(net, model, tensors, aliases, _entries(net.arch, _names(pair.writer)))


def _expected(entry: Entry, layouts: dict[str, str]) -> np.ndarray:
    """The array the architecture gives ``entry`` in ``layouts``."""
    if entry.leaf == "weight":
        return A.stored_weight(entry.node, layouts)
    values = entry.node.values
    assert values is not None and values.bias is not None, f"observed no bias values on {entry.node!r}"
    return values.bias


def strip_values(root: A.Node) -> A.Node:
    """The same architecture with default initialization, reused layers and ties kept."""
    done: dict[int, A.Node] = {}

    def strip(node: A.Node) -> A.Node:
        if id(node) not in done:
            new: A.Node = node
            if isinstance(node, A.Linear):
                new = A.Linear(node.in_features, node.out_features, node.bias)
            elif isinstance(node, A.MyLinear):
                new = A.MyLinear(node.in_units, node.units)
            elif isinstance(node, A.Sequential):
                new = A.Sequential(tuple(strip(c) for c in node.children), node.names, node.custom)
            elif isinstance(node, A.Block):
                new = A.Block(tuple((n, strip(c)) for n, c in node.children))
            done[id(node)] = new
        return done[id(node)]

    return strip(root)


def _owner_kind(entry: Entry) -> str:
    owner = entry.node.weight_of or entry.node
    return type(owner).__name__


def load_into_reader(pair: Pair, ex: Exchange, seed: int) -> Any:
    """B's model of the architecture (fresh initialization) loaded from the file, mapped by the declarations."""
    reader = pair.reader  # its adapter names the state dict by the architecture's paths, as every adapter does
    source, target = weight_layouts(pair.writer), weight_layouts(pair.reader)
    reader.manual_seed(seed)
    model = reader.build(strip_values(ex.net.arch), dtype=ex.net.dtype)
    state: dict[str, Any] = {}
    for key, tensor in ex.tensors.items():
        entry = ex.entries.get(key)
        if entry is None:
            continue  # a key the writer's naming does not give: INTEROP-KEYS reports it
        value = tensor
        kind = _owner_kind(entry)
        if entry.leaf == "weight" and source[kind] != target[kind]:
            dtype = reader.bits(tensor)[0]
            value = reader.tensor(np.ascontiguousarray(reader.to_numpy(tensor).T), dtype=dtype)
        state[f"{entry.path}.{entry.leaf}" if entry.path else entry.leaf] = value
    reader.load_state_dict(model, state, strict=False)
    return model


@pytest.mark.clause("INTEROP-KEYS")
@given(data=st.data())
def test_keys_are_named_as_declared(pair: Pair, check: Check, data: st.DataObject) -> None:
    ex = exchange(pair, data, _usable(pair))
    unknown = sorted(set(ex.tensors) - set(ex.entries))
    check.equal(unknown, [], f"keys of {pair.writer.name}'s file its declared naming does not give the architecture")
    present = {ex.entries[k].group for k in ex.tensors}
    missing = sorted(k for k, e in ex.entries.items() if e.group not in present)
    check.equal(missing, [], f"parameters stored under none of their names in {pair.writer.name}'s file")


@pytest.mark.clause("INTEROP-LAYOUT")
@given(data=st.data())
def test_weights_are_stored_in_the_declared_layout(pair: Pair, check: Check, data: st.DataObject) -> None:
    ex = exchange(pair, data, _usable(pair), halves=True)
    layouts = weight_layouts(pair.writer)
    for key, tensor in ex.tensors.items():
        entry = ex.entries.get(key)
        if entry is None:
            continue
        dtype, shape, _ = pair.reader.bits(tensor)
        expected = _expected(entry, layouts)
        what = f"{key!r} ({_owner_kind(entry)}, declared {layouts[_owner_kind(entry)]}) in {pair.writer.name}'s file"
        check.equal(shape, expected.shape, f"shape of {what}")
        tolerance = 8 * oracle.unit_roundoff(dtype) * (1 + np.abs(expected.astype(np.float64)))
        check.close(pair.reader.to_numpy(tensor).astype(np.float64), expected.astype(np.float64), tolerance, what)


@pytest.mark.clause("INTEROP-DTYPE-BITS")
@given(data=st.data())
def test_tensors_arrive_with_dtype_and_bits(pair: Pair, check: Check, data: st.DataObject) -> None:
    ex = exchange(pair, data, _usable(pair), halves=True)
    held = dict(pair.writer.state_dict(ex.model))
    for key, tensor in ex.tensors.items():
        entry = ex.entries.get(key)
        if entry is None:
            continue  # a key the writer's naming does not give: INTEROP-KEYS reports it
        path = f"{entry.path}.{entry.leaf}" if entry.path else entry.leaf  # the writer adapter's key
        read, written = pair.reader.bits(tensor), pair.writer.bits(held[path])
        check.equal(read[0], written[0], f"dtype of {key!r} read by {pair.reader.name}")
        check.true(read == written, f"bits of {key!r} read by {pair.reader.name}", "different bits", "the same bits")


@pytest.mark.clause("INTEROP-TIES")
@given(data=st.data())
def test_ties_arrive_tied(pair: Pair, check: Check, data: st.DataObject) -> None:
    ex = exchange(pair, data, _usable(pair))
    stored: dict[tuple[int, str], list[str]] = {}
    for key in ex.tensors:
        if key in ex.entries:
            stored.setdefault(ex.entries[key].group, []).append(key)
    twice = [keys for keys in stored.values() if len(keys) > 1]
    check.equal(twice, [], f"tied tensors stored more than once in {pair.writer.name}'s file (aliases: {ex.aliases})")
    model = load_into_reader(pair, ex, data.draw(st.integers(0, 2**31 - 1), label="reader seed"))
    held = dict(pair.reader.state_dict(model))
    groups: dict[tuple[int, str], list[str]] = {}
    for key, entry in _entries(ex.net.arch, {}).items():  # the adapter's keys: the architecture's paths
        groups.setdefault(entry.group, []).append(key)
    for keys in (k for k in groups.values() if len(k) > 1):
        first = pair.reader.bits(held[keys[0]])
        for other in keys[1:]:
            check.true(
                pair.reader.bits(held[other]) == first,
                f"{pair.reader.name}'s {other!r} against {keys[0]!r}, one tensor in the architecture",
                "different values: loaded untied",
                "one tensor at every tied position",
            )


@pytest.mark.clause("INTEROP-FORWARD")
@given(data=st.data())
def test_reader_computes_the_writers_outputs(pair: Pair, check: Check, data: st.DataObject) -> None:
    ex = exchange(pair, data, _usable(pair))
    model = load_into_reader(pair, ex, data.draw(st.integers(0, 2**31 - 1), label="reader seed"))
    x = data.draw(hh.inputs(ex.net), label="input")
    expected = oracle.evaluate(ex.net.arch, x, ex.net.dtype, None, weight_layouts(pair.writer))
    ours = pair.writer.to_numpy(pair.writer.forward(ex.model, pair.writer.tensor(x)))
    theirs = pair.reader.to_numpy(pair.reader.forward(model, pair.reader.tensor(x)))
    check.close(ours, expected.output, expected.tolerance, f"{pair.writer.name}'s output (the writer)")
    check.close(theirs, expected.output, expected.tolerance, f"{pair.reader.name}'s output, loaded from the file")
