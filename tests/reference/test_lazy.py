"""Lazy layers: UninitializedParameter, shape inference on the first call,
device of materialization, and loading into an un-run lazy module."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import ShapeMismatchError, StateDictError, UninitializedParameterError, nn

from .assertions import assert_close, assert_equal
from .draws import SETTINGS


def test_uninitialized_parameter_refuses_shape_values_and_arithmetic() -> None:
    layer = nn.LazyLinear(4)
    w = layer.weight
    assert isinstance(w, nn.UninitializedParameter)
    assert_equal(
        (w.dtype, w.device, layer.in_features),
        (np.dtype("float32"), reference.device("cpu"), None),
        what="lazy metadata",
    )
    attempts = {
        "shape": lambda: w.shape,
        "numel": lambda: w.numel(),
        "numpy": lambda: w.numpy(),
        "asarray": lambda: np.asarray(w),
        "add": lambda: w + 1,
        "radd": lambda: reference.ones(1) + w,
        "matmul": lambda: reference.ones(2, 3) @ w,
        "sum": lambda: w.sum(),
        "index": lambda: w[0],
        "to": lambda: w.to("sim:0"),
        "init": lambda: nn.init.normal_(w),
        "save": lambda: reference.save(w, "/nonexistent/never-written"),
        "item": lambda: w.item(),
    }
    for name, attempt in attempts.items():
        with pytest.raises(UninitializedParameterError, match="uninitialized parameter"):
            attempt()
            raise AssertionError(f"{name} on an uninitialized parameter did not raise")
    assert "UninitializedParameter" in repr(w)


@SETTINGS
@given(width=st.integers(1, 6), batch=st.integers(1, 3), out=st.integers(1, 4))
def test_first_call_infers_in_features_keeping_parameter_identity(width: int, batch: int, out: int) -> None:
    layer = nn.LazyLinear(out)
    weight_object = layer.weight
    y = layer(reference.rand(batch, width))
    assert_equal(
        (y.shape, layer.in_features, layer.weight.shape),
        ((batch, out), width, (out, width)),
        what="after the first call",
    )
    assert layer.weight is weight_object, "materializing replaced the parameter object"
    assert type(layer.weight) is nn.Parameter, f"materialized parameter has type {type(layer.weight).__name__}"
    bound = 1 / np.sqrt(width)
    assert bool(np.all(np.abs(layer.weight.detach().numpy()) <= bound)), "default init bound"
    with pytest.raises(ShapeMismatchError, match=str(width)):
        layer(reference.rand(batch, width + 1))


def test_lazy_layer_moved_before_first_call_materializes_there() -> None:
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1)).to("sim:1")
    y = net(reference.rand(2, 5, device="sim:1"))
    assert_equal(y.device, reference.device("sim:1"), what="output device")
    for name, p in net.named_parameters():
        assert_equal(p.device, reference.device("sim:1"), what=f"{name} device")


def test_lazy_layer_keeps_its_dtype() -> None:
    layer = nn.LazyLinear(3).to(reference.float64)
    layer(reference.rand(2, 4, dtype="float64"))
    assert_equal(layer.weight.dtype, np.dtype("float64"), what="materialized dtype")


def test_load_state_dict_materializes_an_unrun_lazy_module() -> None:
    trained = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(2))
    lazy.load_state_dict(trained.state_dict())
    assert_equal(lazy[0].in_features, 5, what="in_features taken from the checkpoint")
    x = reference.rand(3, 5)
    assert_close(lazy(x).detach().numpy(), trained(x).detach().numpy(), what="outputs after loading into a lazy net")


def test_load_into_lazy_checks_the_known_sizes() -> None:
    lazy = nn.LazyLinear(4)
    with pytest.raises(StateDictError) as info:
        lazy.load_state_dict({"weight": reference.ones(3, 2), "bias": reference.ones(3)})
    assert_equal([key for key, *_ in info.value.mismatched], ["weight", "bias"], what="mismatched keys")
    assert isinstance(lazy.weight, nn.UninitializedParameter), "a refused load must not materialize"


def test_state_dict_of_an_unrun_lazy_module_has_placeholders() -> None:
    lazy = nn.LazyLinear(4)
    state = lazy.state_dict()
    assert_equal(list(state), ["weight", "bias"], what="keys")
    assert all(isinstance(v, nn.UninitializedParameter) for v in state.values())
