"""Initialisation functions: values, bounds, distributions, reproducibility,
and that they write in place without recording gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import nn
from reference.nn import init

from .assertions import assert_equal
from .draws import SETTINGS


def test_init_functions_write_in_place_and_return_the_tensor() -> None:
    p = nn.Parameter(reference.zeros(3, 4))
    for fn, args in (
        (init.normal_, ()),
        (init.uniform_, (-1.0, 1.0)),
        (init.constant_, (2.0,)),
        (init.zeros_, ()),
        (init.ones_, ()),
        (init.xavier_uniform_, ()),
        (init.xavier_normal_, ()),
    ):
        assert fn(p, *args) is p, f"{fn.__name__} did not return its tensor"
        assert p.grad_fn is None and p.requires_grad, f"{fn.__name__} recorded history"


@SETTINGS
@given(a=st.floats(-20, 20), width=st.floats(0.0, 20), device=st.sampled_from(["cpu", "sim:1"]))
def test_uniform_bounds(a: float, width: float, device: str) -> None:
    t = reference.zeros(50, device=device)
    init.uniform_(t, a, a + width)
    values = t.cpu().numpy()
    assert bool(np.all((values >= np.float32(a)) & (values <= np.float32(a + width)))), (
        f"values outside [{a}, {a + width}]: {values}"
    )


@SETTINGS
@given(fan_out=st.integers(1, 30), fan_in=st.integers(1, 30), gain=st.floats(0.1, 3))
def test_xavier_uniform_bound(fan_out: int, fan_in: int, gain: float) -> None:
    w = reference.zeros(fan_out, fan_in)
    init.xavier_uniform_(w, gain=gain)
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    assert float(w.abs().sum()) > 0
    assert bool(np.all(np.abs(w.numpy()) <= bound * (1 + 1e-6))), f"values beyond the bound {bound}"
    assert_equal(
        init.calculate_fan_in_and_fan_out(reference.zeros(fan_out, fan_in, 3)),
        (fan_in * 3, fan_out * 3),
        what="fans with a receptive field",
    )


def test_xavier_needs_two_dimensions() -> None:
    with pytest.raises(ValueError, match="2 dimensions"):
        init.xavier_uniform_(reference.zeros(3))


def test_normal_statistics() -> None:
    t = init.normal_(reference.zeros(20000, dtype="float64"), mean=1.0, std=0.01)
    values = t.numpy()
    assert abs(values.mean() - 1.0) < 1e-3 and abs(values.std() - 0.01) < 1e-3, (
        f"mean {values.mean()}, std {values.std()}"
    )


def test_explicit_generator_and_global_seed_reproduce_values() -> None:
    a = init.normal_(reference.zeros(5), generator=reference.Generator(7)).tolist()
    b = init.normal_(reference.zeros(5), generator=reference.Generator(7)).tolist()
    assert_equal(a, b, what="normal_ with two generators seeded 7")
    reference.manual_seed(11)
    c = nn.Linear(3, 2).weight.detach().tolist()
    reference.manual_seed(11)
    d = nn.Linear(3, 2).weight.detach().tolist()
    assert_equal(c, d, what="Linear init after manual_seed(11) twice")


def test_init_validates_arguments() -> None:
    with pytest.raises(ValueError):
        init.uniform_(reference.zeros(2), 1.0, 0.0)
    with pytest.raises(ValueError):
        init.normal_(reference.zeros(2), std=-1.0)
    with pytest.raises(TypeError):
        init.normal_(reference.zeros(2, dtype="int32"))
