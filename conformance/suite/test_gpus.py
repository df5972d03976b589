"""4.5 GPUs: devices, tensors on devices, networks on devices.

"Accelerator" is the backend's GPU: CUDA for PyTorch, simulated ``sim:N``
devices for the reference. Clauses that need one are skipped (not passed)
where none is present.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import strategies as hh
from conformance._protocol import Backend, weight_layouts
from conformance.kit import oracle
from conformance.kit import reach_strategies as rs
from conformance.kit.checks import Check
from conformance.kit.strategies import leaf_spec


@contextmanager
def device_count(backend: Backend, count: int | None) -> Iterator[None]:
    """Run with ``count`` accelerators where the backend can simulate them; None keeps what is there."""
    if count is None or "device-count-control" not in backend.capabilities:
        yield
        return
    before = len(backend.accelerators())
    backend.set_device_count(count)
    try:
        yield
    finally:
        backend.set_device_count(before)


@pytest.mark.clause("DEV-COUNT")
@given(count_pair=st.tuples(rs.device_counts(), rs.many_devices()))  # a common count and a larger one
def test_device_count(backend: Backend, check: Check, count_pair: tuple[int | None, int]) -> None:
    kind = backend.accelerator_type()
    for count in count_pair:
        with device_count(backend, count):
            n = backend.device_count()
            check.equal(len(backend.accelerators()), n, "accelerators present vs device_count()")
            for i in range(n):
                t = backend.tensor(np.ones(2, dtype=np.float32), f"{kind}:{i}")
                check.equal(backend.device_of(t), f"{kind}:{i}", f"device of a tensor created on {kind}:{i}")
            check.raises(
                lambda n=n: backend.tensor(np.ones(2, dtype=np.float32), f"{kind}:{n}"),  # type: ignore[misc]
                f"creating a tensor on {kind}:{n} of {n}",
            )


@pytest.mark.clause("DEV-TRY-GPU")
@given(count_pair=st.tuples(rs.device_counts(), rs.many_devices()))  # a common count and a larger one
def test_try_gpu(backend: Backend, host: str, check: Check, count_pair: tuple[int | None, int]) -> None:
    for count in count_pair:
        with device_count(backend, count):
            present = backend.accelerators()
            for i in range(len(present) + 3):
                expected = present[i] if i < len(present) else host
                check.equal(backend.try_gpu(i), expected, f"try_gpu({i}) with {len(present)} accelerator(s)")
            check.equal(backend.try_gpu(), present[0] if present else host, "try_gpu()")


@pytest.mark.clause("DEV-TRY-ALL-GPUS")
@given(count_pair=st.tuples(rs.device_counts(), rs.many_devices()))  # a common count and a larger one
def test_try_all_gpus(backend: Backend, host: str, check: Check, count_pair: tuple[int | None, int]) -> None:
    for count in count_pair:
        with device_count(backend, count):
            present = backend.accelerators()
            check.equal(backend.try_all_gpus(), present or [host], f"try_all_gpus() with {len(present)} accelerator(s)")


@pytest.mark.clause("DEV-CPU-DEFAULT")
@given(shape=st.lists(hh.sizes(0, 4), max_size=3))
def test_tensors_default_to_cpu(backend: Backend, host: str, check: Check, shape: list[int]) -> None:
    t = backend.tensor(np.zeros(tuple(shape), dtype=np.float32))
    check.equal(backend.device_of(t), host, "device of a tensor created without a device")


@pytest.mark.clause("DEV-UNINDEXED-IS-ZERO")
@given(shape=st.lists(hh.sizes(0, 4), max_size=3))
def test_unindexed_accelerator_is_index_zero(
    backend: Backend, accelerator: str, check: Check, shape: list[int]
) -> None:
    kind = backend.accelerator_type()
    t = backend.tensor(np.ones(tuple(shape), dtype=np.float32), kind)
    check.equal(backend.device_of(t), f"{kind}:0", f"device of a tensor of shape {tuple(shape)} created on {kind!r}")


@pytest.mark.clause("DEV-NAME-EQUALITY")
def test_device_names_compare_by_name(backend: Backend, host: str, check: Check) -> None:
    kind = backend.accelerator_type()
    check.equal(backend.device_equal(kind, f"{kind}:0"), False, f"device({kind!r}) == device('{kind}:0')")
    check.equal(backend.device_equal(f"{kind}:0", f"{kind}:0"), True, f"device('{kind}:0') == device('{kind}:0')")
    check.equal(backend.device_equal(host, host), True, f"device({host!r}) == device({host!r})")


@pytest.mark.clause("DEV-TENSOR-PLACEMENT")
@given(data=st.data())
def test_tensor_lives_where_created(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    array, dtype = data.draw(hh.raw_arrays(backend.dtypes), label="tensor")
    t = backend.tensor(array, accelerator, dtype=dtype)
    check.equal(backend.device_of(t), accelerator, "device of the created tensor")
    check.bitwise(
        backend.bits(t), backend.bits(backend.tensor(array, host, dtype=dtype)), f"values on the device vs on {host}"
    )


@pytest.mark.clause("DEV-MIXED-RAISES")
@given(data=st.data())
def test_mixing_devices_raises(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    """Every declared dtype and every shape of rank 1 to 3 (empty ones and, rarely, more than 2**16 elements
    included), the second operand of the same shape or one row of it (broadcast)."""
    array, dtype = data.draw(hh.raw_arrays(backend.dtypes).filter(lambda drawn: drawn[0].ndim >= 1), label="tensor")
    other = array[:1] if data.draw(st.booleans(), label="the other operand is one row of it (broadcast)") else array
    what = f"{dtype} {array.shape} and {other.shape}"
    on_cpu, on_acc = backend.tensor(array, host, dtype=dtype), backend.tensor(other, accelerator, dtype=dtype)
    check.raises(lambda: backend.add(on_cpu, on_acc), f"{host} tensor + {accelerator} tensor ({what})")
    check.raises(lambda: backend.add(on_acc, on_cpu), f"{accelerator} tensor + {host} tensor ({what})")
    default = backend.tensor(array, dtype=dtype)  # made with no device named: on the host (DEV-CPU-DEFAULT)
    check.raises(lambda: backend.add(default, on_acc), f"default-device tensor + {accelerator} tensor ({what})")
    others = [d for d in backend.accelerators() if d != accelerator]
    if others:
        elsewhere = backend.tensor(array, others[0], dtype=dtype)
        check.raises(lambda: backend.add(on_acc, elsewhere), f"{accelerator} tensor + {others[0]} tensor ({what})")


@pytest.mark.clause("DEV-SCALAR-PROMOTION")
@given(value=st.floats(-100, 100, width=32), shape=st.lists(hh.sizes(1, 4), min_size=1, max_size=2))
def test_zero_dim_cpu_tensor_is_a_scalar(
    backend: Backend, host: str, accelerator: str, check: Check, value: float, shape: list[int]
) -> None:
    scalar = backend.tensor(np.array(value, dtype=np.float32), host)
    x = backend.tensor(np.ones(tuple(shape), dtype=np.float32), accelerator)
    try:
        result = backend.add(x, scalar)
    except Exception as exc:  # refusing is the departure this clause describes, not a crash of the backend
        raise check.fail(
            f"{accelerator} tensor + 0-d {host} tensor", f"{type(exc).__name__}: {str(exc)[:200]}", "a result"
        ) from exc
    check.equal(backend.device_of(result), accelerator, f"device of (accelerator tensor + 0-d {host} tensor)")
    check.true(
        bool(np.all(backend.to_numpy(result) == np.float32(1) + np.float32(value))),
        "values",
        backend.to_numpy(result),
        1 + value,
    )


@pytest.mark.clause("DEV-COPY-ROUNDTRIP")
@given(data=st.data())
def test_copy_roundtrip_is_exact(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    # copies in a row: to the accelerator, then 0 to 3 more among the host and every accelerator present
    route = data.draw(rs.device_routes(accelerator, (host, *backend.accelerators())), label="copied to, in turn")
    for dtype in backend.dtypes:  # every dtype in every example: a device may lack one (float64)
        array, _ = data.draw(hh.raw_arrays((dtype,)), label=f"{dtype} tensor")
        layout = data.draw(rs.layouts(array.ndim), label=f"layout of the {dtype} tensor (a view holding it)")
        there = rs.in_layout(backend, array, layout, host, dtype)
        for target in route:
            there = backend.to_device(there, target)
            check.equal(backend.device_of(there), target, f"device of the {dtype} copy to {target}")
        back = backend.to_device(there, host)
        steps = " -> ".join((host, *route, host))
        expected = backend.bits(backend.tensor(array, host, dtype=dtype))  # the drawn values, from NumPy
        check.bitwise(backend.bits(back), expected, f"{dtype}, {layout}: {steps}")


@pytest.mark.clause("DEV-MULTI-DEVICE")
@given(shape=st.lists(hh.sizes(1, 4), min_size=1, max_size=3))
def test_copy_to_second_accelerator(
    backend: Backend, two_accelerators: tuple[str, str], check: Check, shape: list[int]
) -> None:
    first, second = two_accelerators
    x = backend.tensor(np.full(tuple(shape), 2.0, dtype=np.float32), first)
    y = backend.tensor(np.full(tuple(shape), 3.0, dtype=np.float32), second)
    z = backend.to_device(x, second)
    check.equal(backend.device_of(z), second, f"device of X copied to {second}")
    total = backend.add(y, z)
    check.equal(backend.device_of(total), second, "device of Y + Z")
    check.true(bool(np.all(backend.to_numpy(total) == 5.0)), "Y + Z", backend.to_numpy(total), 5.0)


# --- networks on devices ---------------------------------------------------------------------------


NETS = hh.nets(("float32",), leaves=("linear_maybe_bias", "relu"), containers=("sequential", "named", "block"))


@pytest.mark.clause("DEV-MODULE-TO")
@given(data=st.data())
def test_module_to_moves_everything(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    net = data.draw(NETS, label="net")
    # moves in a row: to the accelerator, then 0 to 3 more among the host and every accelerator present
    route = data.draw(rs.device_routes(accelerator, (host, *backend.accelerators())), label="moved to, in turn")
    modules = [("net", backend.build(net.arch))]
    if "buffers" in backend.capabilities:
        modules.append(("FixedHiddenMLP", backend.chapter("FixedHiddenMLP")))
    for what, model in modules:
        for step, target in enumerate(route, 1):
            model = backend.module_to(model, target)
            where = f"move {step} of {len(route)}, to {target}"
            for name, param in backend.named_parameters(model):
                check.equal(backend.device_of(param), target, f"device of {what}'s parameter {name} ({where})")
            if "buffers" in backend.capabilities:
                for name, buffer in backend.named_buffers(model):
                    check.equal(backend.device_of(buffer), target, f"device of {what}'s buffer {name} ({where})")


@pytest.mark.clause("DEV-MODULE-TO-IDENTITY")
@given(data=st.data())
def test_module_to_keeps_parameters(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    net = data.draw(NETS, label="net")
    # moves in a row: to the accelerator, then 0 to 3 more among the host and every accelerator present
    route = data.draw(rs.device_routes(accelerator, (host, *backend.accelerators())), label="moved to, in turn")
    model = backend.build(net.arch)
    before = backend.named_parameters(model)
    for step, target in enumerate(route, 1):
        moved = backend.module_to(model, target)
        after = dict(backend.named_parameters(moved))
        where = f"move {step} of {len(route)}, .to({target!r})"
        for name, handle in before:
            check.same(after[name], handle, f"parameter {name} before and after {where}")
            check.equal(backend.device_of(handle), target, f"device seen through the old handle of {name} ({where})")


@pytest.mark.clause("DEV-CONSTANT-FOLLOWS")
@given(seed=hh.seeds(), batch=hh.batch_sizes())
def test_fixed_hidden_mlp_runs_on_device(
    backend: Backend, host: str, accelerator: str, check: Check, seed: int, batch: int
) -> None:
    backend.manual_seed(seed % 2**31)
    model = backend.chapter("FixedHiddenMLP")
    x = hh.input_array(seed, (batch, 20), "float32")
    on_cpu = backend.to_numpy(backend.forward(model, backend.tensor(x, host)))
    moved = backend.module_to(model, accelerator)
    out = backend.forward(moved, backend.tensor(x, accelerator))
    check.equal(backend.device_of(out), accelerator, "device of FixedHiddenMLP's output")
    tolerance = 1e-5 * max(1.0, float(abs(on_cpu)))
    check.close(backend.to_numpy(out), on_cpu, tolerance, "FixedHiddenMLP on the accelerator vs on the CPU")


@pytest.mark.clause("DEV-OUTPUT-ON-DEVICE")
@given(data=st.data())
def test_output_on_module_device(backend: Backend, accelerator: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(NETS, label="net")
    model = backend.module_to(backend.build(net.arch), accelerator)
    x = backend.tensor(data.draw(hh.inputs(net), label="input"), accelerator)
    check.equal(backend.device_of(backend.forward(model, x)), accelerator, "device of net(X)")


@pytest.mark.clause("DEV-GRAD-ON-DEVICE")
@given(data=st.data())
def test_gradients_on_parameter_device(backend: Backend, accelerator: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(NETS, label="net")
    x = data.draw(hh.inputs(net), label="input")
    model = backend.module_to(backend.build(net.arch), accelerator)
    grads = backend.gradients(model, backend.tensor(x, accelerator), np.ones((x.shape[0], net.out_width), np.float32))
    check.equal(set(grads.devices.values()) or {accelerator}, {accelerator}, "devices of the parameters' gradients")
    check.equal(sorted(grads.devices), sorted(grads.params), "parameters whose gradient's device is known")


@pytest.mark.clause("DEV-PARITY")
@given(data=st.data())
def test_cpu_and_accelerator_agree(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    net = data.draw(hh.mlps(("float32",), max_width=64), label="net")
    x = data.draw(hh.inputs(net, max_batch=32), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), "float32")
    expected = oracle.evaluate(net.arch, x, "float32", cotangent, weight_layouts(backend))
    assume(not expected.ambiguous)
    results = {}
    for where in (host, accelerator):
        model = backend.build(net.arch, device=where)
        out = backend.to_numpy(backend.forward(model, backend.tensor(x, where)))
        results[where] = (out, backend.gradients(model, backend.tensor(x, where), cotangent))
    (cpu_out, cpu_grads), (acc_out, acc_grads) = results[host], results[accelerator]
    check.close(acc_out, cpu_out, 2 * expected.tolerance, "output on the accelerator vs the CPU")
    for name, tolerance in expected.param_grad_tolerances.items():
        check.close(acc_grads.params[name], cpu_grads.params[name], 2 * tolerance, f"gradient of {name}")


def _save_load(backend: Backend, obj: Any, map_location: str | None) -> Any:
    with tempfile.TemporaryDirectory(prefix="blockspec-dev-") as directory:
        path = Path(directory) / "checkpoint"
        backend.save(obj, path)
        return backend.load(path, map_location=map_location)


def _on_device(backend: Backend, spec: Any, device: str) -> Any:
    """Backend tensors on ``device`` for an ``io_containers`` spec, nesting kept."""
    if leaf_spec(spec):
        return backend.tensor(spec[0], device, dtype=spec[1])
    if isinstance(spec, (list, tuple)):
        return type(spec)(_on_device(backend, item, device) for item in spec)
    return {key: _on_device(backend, value, device) for key, value in spec.items()}


def _leaves(obj: Any, where: str = "checkpoint") -> Iterator[tuple[str, Any]]:
    """Every tensor of a nesting of lists, tuples and dicts, with its path."""
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _leaves(item, f"{where}[{i}]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{where}[{key!r}]")
    else:
        yield where, obj


def _filled(spec: Any) -> Any:
    """``spec`` with every empty tensor replaced by a one-element one of its dtype."""
    if leaf_spec(spec):
        array, dtype = spec
        return (array if array.size else np.ones(1, dtype=array.dtype), dtype)
    if isinstance(spec, dict):
        return {key: _filled(value) for key, value in spec.items()}
    return type(spec)(_filled(item) for item in spec)


@pytest.mark.clause("DEV-CHECKPOINT-TO-CPU")
@given(data=st.data())
def test_checkpoint_loads_on_cpu(
    backend: Backend, host: str, accelerator: str, check: Check, data: st.DataObject
) -> None:
    net = data.draw(NETS, label="net")
    model = backend.module_to(backend.build(net.arch), accelerator)
    state = dict(backend.state_dict(model))
    # A checkpoint is rarely the bare state dict: the state sits next to nested lists and dicts of tensors
    # (an optimizer's state, metrics), and map_location must reach every one of them.
    # Tensors with elements only: whether an empty tensor can be saved is IO-TENSOR-ROUNDTRIP's question.
    extra = data.draw(
        hh.io_containers(tuple(backend.dtypes), 2, leaf=False).map(_filled), label="nested tensors saved with it"
    )
    layout = data.draw(st.sampled_from(["state", "dict", "list"]), label="checkpoint layout")
    nested = _on_device(backend, extra, accelerator)
    checkpoint: Any = {"state": state, "extra": nested} if layout == "dict" else [nested, state]
    saved = state if layout == "state" else checkpoint
    loaded = _save_load(backend, saved, host)
    if layout == "state":
        check.equal(list(loaded), list(state), "keys of the loaded state dict")
    # Leaves in order, whatever nesting came back: keeping the structure is IO-CONTAINER-ROUNDTRIP's question.
    leaves, originals = list(_leaves(loaded)), list(_leaves(saved))
    check.equal(len(leaves), len(originals), "tensors in the loaded checkpoint")
    for (where, value), (_, original) in zip(leaves, originals, strict=True):
        check.equal(backend.device_of(value), host, f"device of {where} loaded with map_location={host!r}")
        check.bitwise(backend.bits(value), backend.bits(original), f"{where} loaded on {host} vs saved")


@pytest.mark.clause("DEV-CHECKPOINT-HOME")
@given(data=st.data())
def test_checkpoint_returns_to_its_device(
    backend: Backend, accelerator: str, check: Check, data: st.DataObject
) -> None:
    array, dtype = data.draw(hh.raw_arrays(tuple(backend.dtypes)), label="tensor")
    loaded = _save_load(backend, backend.tensor(array, accelerator, dtype=dtype), None)
    check.equal(backend.device_of(loaded), accelerator, "device of a tensor loaded without map_location")
