"""save/load round trips: tensors of every dtype and shape, containers,
aliasing, devices, map_location, and interoperability with the
``safetensors`` library."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import CheckpointError, nn, sim
from reference._tensor import raw

from .assertions import assert_bits_equal, assert_close, assert_equal
from .draws import SETTINGS, any_arrays, devices


def round_trip(obj: object, directory: Path, map_location: str | None = None) -> Any:
    path = directory / "obj.safetensors"
    reference.save(obj, path)
    return reference.load(path, map_location=map_location)


def leaves(obj: object) -> list[reference.Tensor]:
    if isinstance(obj, reference.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in leaves(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in leaves(item)]
    return []


def assert_same_structure(observed: object, expected: object, where: str = "obj") -> None:
    __tracebackhide__ = True
    assert type(observed) is type(expected), (
        f"{where}: observed {type(observed).__name__}, expected {type(expected).__name__}"
    )
    if isinstance(expected, reference.Tensor):
        assert isinstance(observed, reference.Tensor)
        assert_equal(
            (observed.device, observed.requires_grad),
            (expected.device, expected.requires_grad),
            what=f"{where} device/requires_grad",
        )
        assert_bits_equal(observed.detach().cpu().numpy(), expected.detach().cpu().numpy(), what=f"{where} values")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(observed, (list, tuple))
        assert_equal(len(observed), len(expected), what=f"{where} length")
        for i, (o, e) in enumerate(zip(observed, expected, strict=True)):
            assert_same_structure(o, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert isinstance(observed, dict)
        assert_equal(list(observed), list(expected), what=f"{where} keys in order")
        for key in expected:
            assert_same_structure(observed[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert isinstance(observed, float) and np.isnan(observed), f"{where}: observed {observed!r}, expected nan"
    else:
        assert_equal(observed, expected, what=where)


@st.composite
def saveable(draw: st.DrawFn, depth: int = 0) -> object:
    """A tensor, scalar, or (up to 3 levels of) list/tuple/dict/OrderedDict."""
    tensor = st.builds(lambda a, d: reference.tensor(a, device=d), any_arrays(), devices())
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5))
    if depth >= 2:
        return draw(st.one_of(tensor, scalars), label=f"leaf at depth {depth}")
    kind = draw(st.sampled_from(["tensor", "scalar", "list", "tuple", "dict", "odict"]), label=f"kind at depth {depth}")
    if kind == "tensor":
        return draw(tensor, label="tensor")
    if kind == "scalar":
        return draw(scalars, label="scalar")
    children = draw(st.lists(saveable(depth + 1), max_size=3), label="children")
    if kind in ("list", "tuple"):
        return children if kind == "list" else tuple(children)
    keys = draw(
        st.lists(st.text(max_size=4), min_size=len(children), max_size=len(children), unique=True), label="keys"
    )
    pairs = list(zip(keys, children, strict=True))
    return dict(pairs) if kind == "dict" else OrderedDict(pairs)


@SETTINGS
@given(obj=saveable())
def test_round_trip_keeps_structure_values_dtypes_and_devices(
    obj: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    loaded = round_trip(obj, tmp_path_factory.mktemp("rt"))
    assert_same_structure(loaded, obj)


@SETTINGS
@given(array=any_arrays(), device=devices())
def test_single_tensor_round_trip_is_bit_exact(
    array: np.ndarray, device: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    t = reference.tensor(array, device=device)
    loaded = round_trip(t, tmp_path_factory.mktemp("t"))
    assert_equal(loaded.device, t.device, what="device after load")
    assert_bits_equal(loaded.cpu().numpy(), array, what="values after load")


def test_chapter_list_and_dict(tmp_path: Path) -> None:
    x, y = reference.arange(4), reference.zeros(4)
    x2, y2 = round_trip([x, y], tmp_path)
    assert_equal((x2.tolist(), y2.tolist()), (x.tolist(), y.tolist()), what="[x, y]")
    mydict2 = round_trip({"x": x, "y": y}, tmp_path)
    assert_equal(list(mydict2), ["x", "y"], what="dict keys")


def test_aliasing_is_preserved(tmp_path: Path) -> None:
    t = reference.rand(3)
    a, b = round_trip([t, t], tmp_path)
    assert a is b, "the same tensor saved twice must load as one object"
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    net[2] = net[0]
    state = round_trip(net.state_dict(), tmp_path)
    assert isinstance(state, OrderedDict)
    assert np.shares_memory(state["0.weight"].numpy(), state["2.weight"].numpy()), (
        "tied keys must share storage after load"
    )
    with reference.no_grad():
        state["0.weight"][0, 0] = 123.0
    assert_equal(state["2.weight"][0, 0].item(), 123.0, what="write through one alias seen by the other")
    view = t[1:]
    whole, part = round_trip([t, view], tmp_path)
    assert not np.shares_memory(whole.numpy(), part.numpy()), "a partial view is saved as its own values"
    assert_equal(part.tolist(), view.tolist(), what="values of a saved slice")


def test_non_contiguous_tensors_save_their_values(tmp_path: Path) -> None:
    base = reference.arange(12, dtype="float32").reshape(3, 4)
    for view in (base.T, base[:, ::2], base[::-1]):
        loaded = round_trip(view, tmp_path)
        assert_equal(loaded.tolist(), view.tolist(), what="values of a strided view")


def test_parameters_and_requires_grad_survive(tmp_path: Path) -> None:
    p = nn.Parameter(reference.ones(2))
    plain = reference.ones(2, requires_grad=True) * 3
    q, r = round_trip([p, plain], tmp_path)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    assert type(r) is reference.Tensor and r.requires_grad and r.is_leaf


def test_state_dict_round_trip_gives_a_clone_with_equal_outputs(tmp_path: Path) -> None:
    from reference.chapter import MLP

    net = MLP()
    X = reference.rand(2, 20)
    reference.save(net.state_dict(), tmp_path / "mlp.params")
    clone = MLP()
    clone.load_state_dict(reference.load(tmp_path / "mlp.params"))
    clone.eval()
    assert_bits_equal(clone(X).detach().numpy(), net(X).detach().numpy(), what="clone(X) vs net(X)")


def test_devices_map_location_and_missing_devices(tmp_path: Path) -> None:
    net = nn.Linear(3, 3).to("sim:1")
    path = tmp_path / "sim.params"
    reference.save(net.state_dict(), path)
    state = reference.load(path)
    assert_equal({t.device for t in state.values()}, {reference.device("sim:1")}, what="default: saved device")
    state = reference.load(path, map_location="cpu")
    assert_equal({t.device for t in state.values()}, {reference.device("cpu")}, what="map_location='cpu'")
    state = reference.load(path, map_location=reference.device("sim:0"))
    assert_equal({t.device for t in state.values()}, {reference.device("sim:0")}, what="map_location=sim:0")
    sim.set_device_count(1)
    with pytest.raises(CheckpointError, match="map_location"):
        reference.load(path)
    assert_equal(
        reference.load(path, map_location="cpu")["weight"].device,
        reference.device("cpu"),
        what="map_location with the device gone",
    )


def test_int_keys_and_tuples_are_kept(tmp_path: Path) -> None:
    """JSON tells an int key from a str one: {1: x, "1": y} and a tuple come back as saved (torch.save does)."""
    path = tmp_path / "x"
    reference.save({1: (reference.ones(1), reference.zeros(2)), "1": [reference.ones(3)]}, path)
    loaded = reference.load(path)
    observed = [(type(k).__name__, k, type(v).__name__) for k, v in loaded.items()]
    expected = [("int", 1, "tuple"), ("str", "1", "list")]
    assert observed == expected, f"observed keys and containers {observed}; expected {expected}"


def test_unsupported_objects_are_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "x"
    for bad in ({1.5: reference.ones(1)}, {True: reference.ones(1)}, {"a": {1, 2}}, np.ones(2), nn.Linear(1, 1)):
        with pytest.raises(TypeError, match="save"):
            reference.save(bad, path)
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="nested deeper"):
        reference.save(cycle, path)
    assert not path.exists() and os.listdir(tmp_path) == [], f"files left behind: {os.listdir(tmp_path)}"


def test_files_are_readable_by_the_safetensors_library(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {
        "w": reference.rand(3, 2),
        "flag": reference.tensor([True, False]),
        "i": reference.tensor(7, dtype="int16"),
    }
    reference.save(tensors, tmp_path / "a.safetensors")
    loaded = safetensors_numpy.load_file(str(tmp_path / "a.safetensors"))
    values = sorted(loaded.values(), key=lambda a: a.dtype.str)
    assert_equal(len(values), 3, what="number of arrays the library reads")
    for name, t in tensors.items():
        matches = [a for a in loaded.values() if a.dtype == t.dtype and a.shape == t.shape]
        assert matches and np.array_equal(matches[0], t.numpy()), f"{name} not found intact by safetensors"


def test_plain_safetensors_files_load_as_a_dict(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"a": np.arange(3, dtype=np.int32), "b": np.ones((2, 2), np.float64)}
    safetensors_numpy.save_file(arrays, str(tmp_path / "plain.safetensors"))
    loaded = reference.load(tmp_path / "plain.safetensors", map_location="sim:1")
    assert_equal(sorted(loaded), ["a", "b"], what="keys")
    for key, array in arrays.items():
        assert_equal(loaded[key].device, reference.device("sim:1"), what=f"{key} device")
        assert_close(loaded[key].cpu().numpy(), array, what=f"{key} values")


def test_save_overwrites_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    reference.save(reference.ones(2), path)
    reference.save(reference.zeros(3), path)
    assert_equal(reference.load(path).tolist(), [0.0, 0.0, 0.0], what="after overwriting")
    assert_equal(os.listdir(tmp_path), ["x.safetensors"], what="directory contents")


@SETTINGS
@given(data=st.data())
def test_drawn_aliasing_patterns_survive(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    pool = [reference.rand(2, 3, device=data.draw(devices(), label=f"device of tensor {i}")) for i in range(3)]
    picks = data.draw(
        st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["same", "detach", "param"])), min_size=1, max_size=6),
        label="(tensor, alias kind) entries",
    )
    entries: list[reference.Tensor] = []
    for index, kind in picks:
        base = pool[index]
        entries.append(base if kind == "same" else base.detach() if kind == "detach" else nn.Parameter(base))
    loaded = round_trip(entries, tmp_path_factory.mktemp("alias"))
    for i, (index_i, kind_i) in enumerate(picks):
        assert_equal(type(loaded[i]), type(entries[i]), what=f"type of entry {i} ({kind_i})")
        for j, (index_j, _) in enumerate(picks):
            same_object = entries[i] is entries[j]
            assert (loaded[i] is loaded[j]) == same_object, (
                f"entries {i} and {j}: identity observed {loaded[i] is loaded[j]}, expected {same_object}"
            )
            if index_i == index_j:
                shared = np.shares_memory(raw(loaded[i]), raw(loaded[j]))  # white box: device memory
                assert shared, f"entries {i} and {j} alias one storage before saving but not after loading"
