"""4.4 File I/O: tensors, containers and state dicts round-trip; bad files never load.

Loose tensors and containers go through the backend's tensor files (``file-io``: ``save``/``load``); a
module's state goes through the framework's own checkpoint path (``module-checkpoint``:
``save_checkpoint``/``load_checkpoint``, PyTorch's ``torch.save(net.state_dict())``, Keras'
``save_weights``). A module is called once before its checkpoint is saved or loaded, as the chapter calls
``net(X)`` before saving it (Keras saves and loads built models only; loading into a module never called
is LAZY-LOAD-STATE's question).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance._protocol import LAYOUTS, Backend, LoadRejected, checkpoint_suffix
from conformance.kit import reach_strategies as rs
from conformance.kit.checks import Check
from conformance.kit.strategies import leaf_spec, odd_containers

ALL_CONTAINERS = ("sequential", "named", "block")


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis runs many examples in one test call)."""
    with tempfile.TemporaryDirectory(prefix="blockspec-io-") as directory:
        yield Path(directory)


def to_backend(backend: Backend, spec: Any, device: str) -> Any:
    if leaf_spec(spec):
        array, dtype = spec
        return backend.tensor(array, device, dtype=dtype)
    if isinstance(spec, (list, tuple)):
        return type(spec)(to_backend(backend, item, device) for item in spec)
    return {key: to_backend(backend, value, device) for key, value in spec.items()}


def check_same_structure(backend: Backend, check: Check, loaded: Any, saved: Any, where: str = "root") -> None:
    if isinstance(saved, (list, tuple)):
        kind = type(saved).__name__  # exactly: a tuple loaded as a list is a different container
        check.true(type(loaded) is type(saved), f"container type at {where}", type(loaded).__name__, kind)
        check.equal(len(loaded), len(saved), f"length at {where}")
        for i, (a, b) in enumerate(zip(loaded, saved, strict=True)):
            check_same_structure(backend, check, a, b, f"{where}[{i}]")
    elif isinstance(saved, dict):
        check.true(isinstance(loaded, dict), f"container type at {where}", type(loaded).__name__, "dict")
        # reprs, so an int key 1 loaded as the string "1" shows as a difference
        check.equal([repr(k) for k in loaded], [repr(k) for k in saved], f"keys (in order) at {where}")
        for key in saved:
            check_same_structure(backend, check, loaded[key], saved[key], f"{where}[{key!r}]")
    else:
        check.bitwise(backend.bits(loaded), backend.bits(saved), f"tensor at {where}")


@pytest.mark.clause("IO-TENSOR-ROUNDTRIP")
@given(data=st.data())
def test_tensor_roundtrip(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    array, dtype = data.draw(hh.raw_arrays(backend.dtypes), label="tensor")
    layout = data.draw(rs.layouts(array.ndim), label="layout of the saved tensor (a view holding the tensor)")
    tensor = rs.in_layout(backend, array, layout, device, dtype)
    expected = backend.bits(backend.tensor(array, device, dtype=dtype))  # the drawn values, from NumPy
    check.bitwise(backend.bits(tensor), expected, f"the {layout} tensor before saving")
    with scratch() as directory:
        backend.save(tensor, directory / "x-file")
        loaded = backend.load(directory / "x-file")
    check.bitwise(backend.bits(loaded), expected, f"load(save(x)) of a {layout} tensor")


@pytest.mark.clause("IO-TENSOR-ROUNDTRIP")
def test_every_dtype_roundtrips(backend: Backend, device: str, check: Check) -> None:
    """One tensor of every declared dtype, floats made of the patterns a format loses: no dtype left to chance."""
    for dtype in backend.dtypes:
        array = hh.boundary_array(dtype)
        tensor = backend.tensor(array, device, dtype=dtype)
        with scratch() as directory:
            backend.save(tensor, directory / "x-file")
            loaded = backend.load(directory / "x-file")
        check.bitwise(backend.bits(loaded), backend.bits(tensor), f"load(save(x)) of a {dtype} tensor")


@pytest.mark.clause("IO-CONTAINER-ROUNDTRIP")
@given(data=st.data())
def test_container_roundtrip(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    keeps = "container-keys" in backend.capabilities  # then tuples and int keys are drawn as well
    spec = data.draw(hh.io_containers(backend.dtypes, leaf=False, container_keys=keeps), label="container")
    saved = to_backend(backend, spec, device)
    with scratch() as directory:
        backend.save(saved, directory / "mydict")
        loaded = backend.load(directory / "mydict")
    check_same_structure(backend, check, loaded, saved)


@pytest.mark.clause("IO-CONTAINER-ROUNDTRIP")
@given(data=st.data())
def test_views_of_one_tensor_saved_together(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    """A list of views of one tensor (its storage shared, where the framework has views) saved in one file:
    each comes back with its own values, computed from NumPy."""
    array, dtype = data.draw(hh.raw_arrays(backend.dtypes, large=False), label="drawn rows")
    # the drawn rows, each followed by its bits inverted: a view read from the wrong place differs
    base = rs.layout_source(array, "step") if array.ndim else array
    ndim = base.ndim if base.size else 0  # no view of an empty tensor: its storage holds nothing to misplace
    layouts = data.draw(st.lists(rs.layouts(ndim), min_size=2, max_size=4), label="layout of each view")
    source = backend.tensor(base, device, dtype=dtype)
    views = [source if layout == "contiguous" else backend.strided_view(source, layout) for layout in layouts]
    with scratch() as directory:
        backend.save(views, directory / "views")
        loaded = backend.load(directory / "views")
    check.equal(len(loaded), len(views), "length of the loaded list of views")
    for i, (tensor, layout) in enumerate(zip(loaded, layouts, strict=True)):
        expected = (base if layout == "contiguous" else LAYOUTS[layout](base)).copy()  # C order, 0-d kept
        check.bitwise(
            backend.bits(tensor), backend.bits(backend.tensor(expected, device, dtype=dtype)), f"view [{i}] ({layout})"
        )


@pytest.mark.clause("IO-CONTAINER-KINDS")
@given(data=st.data())
def test_tuples_and_int_keys_kept_or_refused(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    spec = data.draw(odd_containers(backend.dtypes), label="container with a tuple or an int key")
    saved = to_backend(backend, spec, device)
    keeps = "container-keys" in backend.capabilities
    with scratch() as directory:
        try:
            backend.save(saved, directory / "odd")
        except Exception as exc:  # refusing is conforming, unless the backend declares it keeps them
            if keeps:
                raise check.fail(
                    "saving a tuple or an int key", f"refused: {exc!r}", "saved (container-keys)"
                ) from None
            return
        loaded = backend.load(directory / "odd")
    check_same_structure(backend, check, loaded, saved)


@pytest.mark.clause("IO-CONTAINER-ROUNDTRIP")
def test_chapter_list_and_dict(backend: Backend, device: str, check: Check) -> None:
    x = backend.tensor(np.arange(4, dtype=np.float32), device)
    y = backend.tensor(np.zeros(4, dtype=np.float32), device)
    with scratch() as directory:
        for name, obj in (("x-files", [x, y]), ("mydict", {"x": x, "y": y})):
            backend.save(obj, directory / name)
            check_same_structure(backend, check, backend.load(directory / name), obj, name)


def checkpoint(backend: Backend, directory: Path, stem: str) -> Path:
    """Where to write a checkpoint: ``stem`` with the ending the framework's checkpoint path needs."""
    return directory / f"{stem}{checkpoint_suffix(backend)}"


def _fresh_clone(backend: Backend, net: hh.Net, device: str, seed: int) -> Any:
    backend.manual_seed(seed)
    return backend.build(strip_values(net.arch), dtype=net.dtype, device=device)


def strip_values(root: A.Node) -> A.Node:
    """The same architecture with default initialization (a clone built by code, not from values)."""
    done: dict[int, A.Node] = {}

    def strip(node: A.Node) -> A.Node:
        if id(node) in done:
            return done[id(node)]
        if isinstance(node, A.Linear):
            new: A.Node = A.Linear(node.in_features, node.out_features, node.bias)
        elif isinstance(node, A.MyLinear):
            new = A.MyLinear(node.in_units, node.units)
        elif isinstance(node, A.Sequential):
            new = A.Sequential(tuple(strip(c) for c in node.children), node.names, node.custom)
        elif isinstance(node, A.Block):
            new = A.Block(tuple((n, strip(c)) for n, c in node.children))
        else:
            new = node
        done[id(node)] = new
        return new

    return strip(root)


@pytest.mark.clause("IO-STATE-DICT-CLONE")
@given(data=st.data())
def test_loaded_clone_computes_the_same(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear_maybe_bias", "relu"), containers=ALL_CONTAINERS),
        label="net",
    )
    x = backend.tensor(data.draw(hh.inputs(net), label="input"), device)
    original = backend.build(net.arch, dtype=net.dtype, device=device)
    clone = _fresh_clone(backend, net, device, data.draw(st.integers(0, 2**31 - 1), label="clone seed"))
    backend.forward(original, x)  # the chapter's Y = net(X) before saving; the clone, once before loading
    backend.forward(clone, x)
    with scratch() as directory:
        backend.save_checkpoint(original, checkpoint(backend, directory, "mlp.params"))
        backend.load_checkpoint(clone, checkpoint(backend, directory, "mlp.params"))
    check.bitwise(
        backend.bits(backend.forward(clone, x)), backend.bits(backend.forward(original, x)), "clone(X) vs net(X)"
    )


@pytest.mark.clause("IO-STATE-DICT-CLONE")
@pytest.mark.parametrize("block", ["MLP", "FixedHiddenMLP"])
@given(batch=hh.batch_sizes(), seed=hh.seeds())
def test_chapter_clone(backend: Backend, device: str, check: Check, block: str, batch: int, seed: int) -> None:
    backend.manual_seed(seed % 2**31)
    net = backend.chapter(block, device=device)
    backend.manual_seed((seed + 1) % 2**31)
    clone = backend.chapter(block, device=device)
    x = backend.tensor(hh.input_array(seed, (batch, 20), "float32"), device)
    backend.forward(net, x)
    backend.forward(clone, x)
    with scratch() as directory:
        backend.save_checkpoint(net, checkpoint(backend, directory, "mlp.params"))
        backend.load_checkpoint(clone, checkpoint(backend, directory, "mlp.params"))
    check.bitwise(
        backend.bits(backend.forward(clone, x)), backend.bits(backend.forward(net, x)), f"{block} clone(X) vs net(X)"
    )


@pytest.mark.clause("IO-TIES-SURVIVE")
@given(batch=hh.batch_sizes())
def test_ties_survive_save_and_load(backend: Backend, device: str, check: Check, batch: int) -> None:
    backend.manual_seed(1)
    net = backend.chapter("tied_net", device=device)
    backend.manual_seed(2)
    clone = backend.chapter("tied_net", device=device)
    x = backend.tensor(np.ones((batch, 4), dtype=np.float32), device)  # the tied net's input width is 4
    backend.forward(net, x)
    backend.forward(clone, x)
    with scratch() as directory:
        backend.save_checkpoint(net, checkpoint(backend, directory, "tied.params"))
        backend.load_checkpoint(clone, checkpoint(backend, directory, "tied.params"))
    first, second = (dict(backend.named_parameters(backend.index(clone, i))) for i in (2, 4))
    saved = dict(backend.state_dict(net))
    for leaf in ("weight", "bias"):
        check.same(first[leaf], second[leaf], f"clone[2].{leaf} and clone[4].{leaf} after loading")
        check.bitwise(
            backend.bits(first[leaf]), backend.bits(saved[f"2.{leaf}"]), f"clone[2].{leaf} vs the saved value"
        )


# --- strict and non-strict loading ---------------------------------------------------------------


@st.composite
def altered_state(draw: st.DrawFn, dtypes: tuple[str, ...]) -> tuple[hh.Net, list[str], list[str]]:
    """A net, the keys to drop (at least one), and new keys to add (at least one)."""
    net = draw(hh.nets(dtypes, leaves=("linear_maybe_bias", "relu"), containers=ALL_CONTAINERS), label="net")
    keys = A.state_dict_keys(net.arch)
    assume(keys)
    dropped = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True), label="dropped keys")
    # "9.weight" is a real key of a Sequential of 10 or more children: only keys the net lacks are unexpected
    candidates = [k for k in ("extra.weight", "head.bias", "9.weight", "block 9.0.bias", "w") if k not in keys]
    added = draw(st.lists(st.sampled_from(candidates), min_size=1, unique=True), label="unexpected keys")
    return net, dropped, added


def named_in(message: str, key: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", message) is not None


def _rejection(backend: Backend, check: Check, model: Any, state: dict[str, Any], strict: bool, what: str) -> str:
    try:
        backend.load_state_dict(model, state, strict=strict)
    except LoadRejected as exc:
        return exc.message
    raise check.fail(what, "the load succeeded", "an error naming the offending keys")


@pytest.mark.clause("LOAD-STRICT-MISSING")
@given(data=st.data())
def test_strict_load_names_missing_keys(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net, dropped, _ = data.draw(altered_state(backend.float_dtypes), label="state")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state = {k: v for k, v in backend.state_dict(model) if k not in dropped}
    message = _rejection(backend, check, model, state, True, f"strict load without {dropped}")
    missing = [key for key in dropped if not named_in(message, key)]
    check.equal(missing, [], f"missing keys the error does not name (message: {message!r})")


@pytest.mark.clause("LOAD-STRICT-UNEXPECTED")
@given(data=st.data())
def test_strict_load_names_unexpected_keys(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net, _, added = data.draw(altered_state(backend.float_dtypes), label="state")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state = dict(backend.state_dict(model))
    extra = backend.tensor(np.zeros(3, dtype=net.dtype), device)
    state.update({key: extra for key in added})
    message = _rejection(backend, check, model, state, True, f"strict load with extra keys {added}")
    unnamed = [key for key in added if not named_in(message, key)]
    check.equal(unnamed, [], f"unexpected keys the error does not name (message: {message!r})")


@pytest.mark.clause("LOAD-SHAPE-MISMATCH")
@given(data=st.data(), strict=st.booleans())
def test_load_names_shape_mismatch(
    backend: Backend, device: str, check: Check, data: st.DataObject, strict: bool
) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state = dict(backend.state_dict(model))
    assume(state)
    key = data.draw(st.sampled_from(sorted(state)), label="key given a wrong shape")
    shape = tuple(backend.to_numpy(state[key]).shape)
    state[key] = backend.tensor(np.zeros((*shape[:-1], shape[-1] + 1), dtype=net.dtype), device)
    message = _rejection(
        backend, check, model, state, strict, f"load with {key} of shape {(*shape[:-1], shape[-1] + 1)}"
    )
    check.true(named_in(message, key), f"the error for a mismatched {key!r}", message, f"a message naming {key!r}")


def _other_ranks(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shapes with ``shape``'s element count and another rank."""
    if shape == (1,):
        return [(), (1, 1)]
    if len(shape) == 1:
        return [(1, shape[0]), (shape[0], 1)]
    return [(int(np.prod(shape)),), (1, *shape)]


@pytest.mark.clause("LOAD-SHAPE-RANK")
@given(data=st.data(), strict=st.booleans())
def test_load_refuses_another_rank(
    backend: Backend, device: str, check: Check, data: st.DataObject, strict: bool
) -> None:
    dtype = data.draw(hh.float_dtypes(backend.float_dtypes), label="dtype")
    in_width = data.draw(hh.widths(), label="in width")
    out_width = data.draw(st.one_of(st.just(1), hh.widths()), label="out width (1: a (1,) bias)")
    model = backend.build(A.Linear(in_width, out_width), dtype=dtype, device=device)
    state = dict(backend.state_dict(model))
    key = data.draw(st.sampled_from(sorted(state)), label="key given another rank")
    before = backend.bits(state[key])
    shape = tuple(backend.to_numpy(state[key]).shape)
    other = data.draw(st.sampled_from(_other_ranks(shape)), label="shape of the same size")
    state[key] = backend.tensor(np.full(other, 7.0, dtype=dtype), device)
    message = _rejection(backend, check, model, state, strict, f"load with {key} of shape {other} into {shape}")
    check.true(named_in(message, key), f"the error for {key!r} of shape {other}", message, f"a message naming {key!r}")
    check.bitwise(backend.bits(dict(backend.state_dict(model))[key]), before, f"{key} after the refused load")


@pytest.mark.clause("LOAD-COPIES-VALUES")
@given(data=st.data())
def test_load_copies_values(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    # Small nets: aliasing shows on any architecture, and few shapes keep shrinking cheap where each compiles.
    net = data.draw(
        hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, max_depth=2, max_width=4, wide=False), label="net"
    )
    layout = data.draw(rs.layouts(2), label="layout of the loaded tensors (a 1-D one transposed stays contiguous)")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    source = backend.build(strip_values(net.arch), dtype=net.dtype, device=device)
    assume(backend.named_parameters(source))
    state = dict(backend.state_dict(source))
    # copies: to_numpy may return a view of the tensor's memory (torch's .numpy() does)
    values = {key: backend.to_numpy(tensor).copy() for key, tensor in state.items()}
    if layout != "contiguous":  # the source's values, loaded from views of other tensors
        state = {key: _in_layout(backend, value, layout, device, net.dtype) for key, value in values.items()}
    backend.load_state_dict(model, state, strict=True)
    loaded = {name: backend.to_numpy(p).copy() for name, p in backend.named_parameters(model)}
    for name, value in loaded.items():
        _same_values(check, value, values[name], f"{name} loaded from a {layout} tensor")
    for _, param in backend.named_parameters(source):
        backend.assign(param, backend.to_numpy(param) + 1)
    for name, param in backend.named_parameters(model):
        _same_values(check, backend.to_numpy(param), loaded[name], f"{name} after writing to the source's tensors")
    written = {name: backend.to_numpy(p).copy() for name, p in backend.named_parameters(source)}
    for _, param in backend.named_parameters(model):
        backend.assign(param, backend.to_numpy(param) * 0 - 3)
    for name, param in backend.named_parameters(source):
        _same_values(check, backend.to_numpy(param), written[name], f"source {name} after writing to the loaded model")
    if layout != "contiguous":  # the views loaded from are sources too
        for key, tensor in state.items():
            _same_values(
                check, backend.to_numpy(tensor), values[key], f"{layout} source {key} after writing to the model"
            )


def _in_layout(backend: Backend, array: np.ndarray, layout: str, device: str, dtype: str) -> Any:
    """``array`` as a tensor in ``layout``, or contiguous where ``array`` has too few dimensions for it."""
    return rs.in_layout(backend, array, layout if layout in rs.layouts_for(array.ndim) else "contiguous", device, dtype)


def _same_values(check: Check, observed: np.ndarray, expected: np.ndarray, what: str) -> None:
    check.true(bool(np.array_equal(observed, expected)), what, observed, expected)


def _other_float_state(
    backend: Backend, model: Any, dtype: str, device: str
) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    """The model's state in another float dtype the backend has: tensors, their values, the dtype."""
    others = [d for d in ("float64", "float32", "float16") if d in backend.dtypes and d != dtype]
    other = others[0] if others else dtype
    values = {key: backend.to_numpy(v).astype(np.float64) * 1.5 + 1 / 3 for key, v in backend.state_dict(model)}
    arrays = {key: v.astype(other) for key, v in values.items()}
    return {key: backend.tensor(a, device, dtype=other) for key, a in arrays.items()}, arrays, other


@pytest.mark.clause("LOAD-KEEPS-DTYPE")
@given(data=st.data())
def test_load_keeps_the_dtype(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state, _, other = _other_float_state(backend, model, net.dtype, device)
    with contextlib.suppress(LoadRejected):  # refusing is conforming
        backend.load_state_dict(model, state, strict=True)
    for name, param in backend.named_parameters(model):
        check.equal(backend.bits(param)[0], net.dtype, f"dtype of {name} after loading a {other} state dict")


@pytest.mark.clause("LOAD-CASTS-DTYPE")
@given(data=st.data())
def test_load_casts_to_the_dtype(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state, arrays, other = _other_float_state(backend, model, net.dtype, device)
    try:
        backend.load_state_dict(model, state, strict=True)
    except LoadRejected as exc:
        raise check.fail(f"loading a {other} state dict into a {net.dtype} module", exc.message, "a cast") from None
    after = dict(backend.state_dict(model))
    for key, array in arrays.items():
        _same_values(check, backend.to_numpy(after[key]), array.astype(net.dtype), f"{key} after loading it as {other}")


@pytest.mark.clause("LOAD-NONSTRICT-REPORTS")
@given(data=st.data())
def test_nonstrict_load_reports(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net, dropped, added = data.draw(altered_state(backend.float_dtypes), label="state")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    donor = backend.build(strip_values(net.arch), dtype=net.dtype, device=device)
    state = {k: v for k, v in backend.state_dict(donor) if k not in dropped}
    extra = backend.tensor(np.zeros(3, dtype=net.dtype), device)
    state.update({key: extra for key in added})
    result = backend.load_state_dict(model, state, strict=False)
    check.equal(sorted(result.missing), sorted(dropped), "missing keys reported by a non-strict load")
    check.equal(sorted(result.unexpected), sorted(added), "unexpected keys reported by a non-strict load")
    after = dict(backend.state_dict(model))
    for key, value in backend.state_dict(donor):
        if key not in dropped:
            check.bitwise(backend.bits(after[key]), backend.bits(value), f"{key} after a non-strict load")


# --- hostile files -------------------------------------------------------------------------------


class _Marker:
    """Unpickling this calls os.mkdir(path): the proof that a loader ran code from a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.path,))


def malicious_files(directory: Path, marker: Path, suffix: str = "") -> dict[str, Path]:
    """A bare pickle and a zip in torch.save's layout, each running code when unpickled, named ``*suffix``."""
    payload = pickle.dumps({"weight": _Marker(str(marker))}, protocol=2)
    raw = directory / f"raw.pkl{suffix}"
    raw.write_bytes(payload)
    archive = directory / f"archive.pt{suffix}"
    with zipfile.ZipFile(archive, "w") as zf:  # the layout torch.save writes
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/byteorder", "little")
    return {"a bare pickle": raw, "a zip archive in torch.save's layout": archive}


def _called_mlp(backend: Backend, device: str) -> Any:
    """The chapter's MLP, called once: a module to load checkpoints into.

    The call only makes a lazy framework's parameters exist (Keras builds on its first call); what the
    clauses check is what loading a file runs, whatever the batch, so the input is not drawn.
    """
    mlp = backend.chapter("MLP", device=device)
    backend.forward(mlp, backend.tensor(np.zeros((2, 20), dtype=np.float32), device))
    return mlp


def loaders(backend: Backend, device: str) -> list[tuple[str, Any]]:
    """Every way the backend reads a file: its tensor loader (``file-io``), its checkpoint path into an MLP."""
    found: list[tuple[str, Any]] = []
    if "file-io" in backend.capabilities:
        found.append(("load", backend.load))
    mlp = _called_mlp(backend, device)
    found.append(("load_checkpoint", lambda path: backend.load_checkpoint(mlp, path)))
    return found


@pytest.mark.clause("IO-NO-CODE-EXECUTION")
def test_loading_never_runs_code(backend: Backend, device: str, check: Check) -> None:
    with scratch() as directory:
        marker = directory / "marker"
        readers = loaders(backend, device)
        for kind, path in malicious_files(directory, marker, checkpoint_suffix(backend)).items():
            for through, load in readers:
                what = f"{through}: {kind} whose unpickling runs os.mkdir"
                check.raises(functools.partial(load, path), what)
                check.true(not marker.exists(), f"marker after {what}", "created: code from the file ran", "absent")


@pytest.mark.clause("IO-CORRUPT-FILE")
@given(data=st.data())
def test_damaged_files_do_not_load(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    with scratch() as directory:
        if "file-io" in backend.capabilities:
            # Tensors with elements only: whether an empty tensor can be saved is IO-TENSOR-ROUNDTRIP's question,
            # and a framework that cannot must not fail this clause, which is about damaged files.
            whole = hh.raw_arrays(("float32", "int64")).filter(lambda pair: pair[0].size > 0)
            spec = data.draw(
                st.dictionaries(st.text("abc", min_size=1, max_size=3), whole, min_size=1, max_size=3),
                label="saved dict",
            )
            path = directory / "x-file"
            backend.save(to_backend(backend, spec, device), path)
            _damaged_do_not_load(check, data, path, backend.load, "load")
        mlp = _called_mlp(backend, device)
        path = checkpoint(backend, directory, "mlp.params")
        backend.save_checkpoint(mlp, path)
        _damaged_do_not_load(check, data, path, lambda p: backend.load_checkpoint(mlp, p), "load_checkpoint")


def _damaged_do_not_load(check: Check, data: st.DataObject, path: Path, load: Any, through: str) -> None:
    """``load(path)`` raises for ``path`` cut short at drawn and early bytes, and for random bytes."""
    content = path.read_bytes()
    drawn = data.draw(st.integers(0, len(content) - 1), label=f"truncate at byte ({through})")
    # Every cut inside the first 16 bytes too: a loader that parses a few header bytes as something
    # else (Paddle's falls back to a static Program) is found every time, not only when the draw lands there.
    for cut in sorted({*range(min(16, len(content))), drawn}):
        path.write_bytes(content[:cut])
        check.raises(lambda: load(path), f"{through}: a file truncated to {cut} of {len(content)} bytes")
    seed = data.draw(hh.seeds(), label=f"noise seed ({through})")
    path.write_bytes(np.random.default_rng(seed).bytes(len(content)))
    check.raises(lambda: load(path), f"{through}: {len(content)} random bytes")
