"""Modules: registration, names, traversal, state dicts, tying, apply, device
moves, printing, and Sequential."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import StateDictError, nn

from .assertions import assert_close, assert_equal
from .draws import SETTINGS


class Owner(nn.Module):
    """A module with one of each kind of member."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 3)
        self.scale = nn.Parameter(reference.ones(3))
        self.register_buffer("running", reference.zeros(3))
        self.register_buffer("scratch", reference.zeros(1), persistent=False)
        self.plain = reference.ones(3)  # not registered: stays behind on .to()

    def forward(self, x: reference.Tensor) -> reference.Tensor:
        return self.layer(x) * self.scale + self.running


# --- registration -------------------------------------------------------------------


def test_attribute_assignment_registers_members() -> None:
    m = Owner()
    assert_equal(list(m._parameters), ["scale"], what="own parameters")
    assert_equal(list(m._buffers), ["running", "scratch"], what="own buffers")
    assert_equal(list(m._modules), ["layer"], what="own submodules")
    assert "plain" in m.__dict__ and "plain" not in m._buffers, "a plain tensor attribute must stay a plain attribute"
    assert_equal([n for n, _ in m.named_parameters()], ["scale", "layer.weight", "layer.bias"], what="named_parameters")
    assert_equal([n for n, _ in m.named_buffers()], ["running", "scratch"], what="named_buffers")
    assert_equal(
        list(m.state_dict()),
        ["scale", "running", "layer.weight", "layer.bias"],
        what="state_dict keys (non-persistent buffer excluded)",
    )


def test_reassignment_and_deletion() -> None:
    m = Owner()
    m.scale = nn.Parameter(reference.zeros(3))
    with pytest.raises(TypeError, match="Parameter or None"):
        m.scale = reference.zeros(3)  # type: ignore[assignment]
    m.running = reference.ones(3)  # a plain tensor assigned to a buffer name updates the buffer
    assert_equal(m._buffers["running"].tolist(), [1.0, 1.0, 1.0], what="buffer after assignment")  # type: ignore[union-attr]
    m.layer = nn.ReLU()
    assert isinstance(m._modules["layer"], nn.ReLU)
    del m.layer
    assert "layer" not in m._modules
    with pytest.raises(AttributeError):
        _ = m.layer


def test_add_module_accepts_arbitrary_names_but_not_dots_or_empty() -> None:
    net = nn.Sequential()
    net.add_module("block 0", nn.Linear(1, 1))
    assert isinstance(getattr(net, "block 0"), nn.Linear)
    for bad in ("", "a.b"):
        with pytest.raises(KeyError):
            net.add_module(bad, nn.ReLU())
    with pytest.raises(KeyError, match="already exists"):
        net.add_module("forward", nn.ReLU())
    with pytest.raises(TypeError):
        net.add_module("x", reference.ones(1))  # type: ignore[arg-type]


def test_assigning_before_init_is_an_error() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(reference.ones(1))

    with pytest.raises(AttributeError, match="__init__"):
        Broken()


def test_register_parameter_rejects_non_leaf() -> None:
    m = nn.Module()
    frozen = nn.Parameter(reference.ones(1), requires_grad=False)
    frozen += reference.ones(1, requires_grad=True)  # now has history
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("w", frozen)
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("w", reference.ones(1))  # type: ignore[arg-type]


def test_direct_modules_dict_writes_work() -> None:
    class Mine(nn.Module):
        def __init__(self, *layers: nn.Module) -> None:
            super().__init__()
            for i, layer in enumerate(layers):
                self._modules[str(i)] = layer

    m = Mine(nn.Linear(2, 2), nn.ReLU())
    assert_equal([n for n, _ in m.named_parameters()], ["0.weight", "0.bias"], what="names via _modules")
    assert isinstance(getattr(m, "0"), nn.Linear)


# --- tying and traversal -------------------------------------------------------------------


def tied() -> nn.Sequential:
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


def test_tied_parameters_once_in_parameters_every_alias_in_state_dict() -> None:
    net = tied()
    names = [n for n, _ in net.named_parameters()]
    assert_equal(names, ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"], what="named_parameters")
    assert_equal(len(list(net.parameters())), 6, what="len(parameters())")
    keys = list(net.state_dict())
    assert_equal(len(keys), 8, what="len(state_dict())")
    assert "4.weight" in keys and "4.bias" in keys
    all_names = [n for n, _ in net.named_parameters(remove_duplicate=False)]
    assert_equal(len(all_names), 8, what="named_parameters(remove_duplicate=False)")
    assert net[2].weight is net[4].weight
    sd = net.state_dict()
    assert np.shares_memory(sd["2.weight"].numpy(), sd["4.weight"].numpy()), "alias keys should share storage"
    assert np.shares_memory(sd["2.weight"].numpy(), net[2].weight.detach().numpy()), (
        "state_dict values should share the parameter's storage"
    )


def test_tied_gradients_add_up() -> None:
    net = tied()
    x = reference.rand(3, 4)
    net(x).sum().backward()
    grad_tied = net[2].weight.grad.numpy().copy()  # type: ignore[union-attr]
    # Untie: the sum of the two positions' gradients must equal the tied one.
    untied = copy.deepcopy(net)
    untied[4] = copy.deepcopy(untied[2])
    untied.zero_grad()
    untied(x).sum().backward()
    total = untied[2].weight.grad.numpy() + untied[4].weight.grad.numpy()  # type: ignore[union-attr]
    assert_close(grad_tied, total, what="tied gradient vs sum of untied gradients", rtol=1e-5, atol=1e-6)


def test_named_modules_children_and_get_submodule() -> None:
    net = tied()
    assert_equal(
        [n for n, _ in net.named_modules()], ["", "0", "1", "2", "3", "5", "6"], what="named_modules (shared once)"
    )
    assert_equal([n for n, _ in net.named_children()], ["0", "1", "2", "3", "5", "6"], what="named_children")
    assert net.get_submodule("4") is net[2]
    assert net.get_parameter("6.bias") is net[6].bias


def test_apply_is_post_order_and_visits_a_shared_child_once() -> None:
    shared = nn.Linear(1, 1)
    inner = nn.Sequential(nn.Linear(1, 1), shared, shared)
    net = nn.Sequential(inner, nn.ReLU())
    order: list[int] = []
    net.apply(lambda m: order.append(id(m)))
    expected = [id(inner[0]), id(shared), id(inner), id(net[1]), id(net)]
    assert_equal(order, expected, what="apply order (ids)")


def test_train_eval_and_zero_grad() -> None:
    net = tied()
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(reference.rand(1, 4)).sum().backward()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- state dicts -----------------------------------------------------------------------------


def test_load_state_dict_copies_values_and_keeps_identity() -> None:
    source, target = Owner(), Owner()
    weight = target.layer.weight
    result = target.load_state_dict(source.state_dict())
    assert_equal(tuple(result), ([], []), what="IncompatibleKeys")
    assert target.layer.weight is weight, "load_state_dict replaced the parameter object"
    x = reference.rand(4, 2)
    assert_close(target(x).detach().numpy(), source(x).detach().numpy(), what="outputs after loading")


def test_load_state_dict_strictness() -> None:
    net = Owner()
    state = net.state_dict()
    del state["scale"]
    state["extra"] = reference.ones(1)
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(state)
    assert_equal((info.value.missing, info.value.unexpected), (["scale"], ["extra"]), what="missing/unexpected")
    assert "'scale'" in str(info.value) and "'extra'" in str(info.value)
    result = net.load_state_dict(state, strict=False)
    assert_equal((result.missing_keys, result.unexpected_keys), (["scale"], ["extra"]), what="IncompatibleKeys")


def test_shape_mismatch_raises_even_when_not_strict_and_changes_nothing() -> None:
    net = Owner()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    state = Owner().state_dict()
    state["layer.weight"] = reference.ones(5, 5)
    for strict in (True, False):
        with pytest.raises(StateDictError) as info:
            net.load_state_dict(state, strict=strict)
        assert_equal(info.value.mismatched, [("layer.weight", (5, 5), (3, 2))], what="mismatched")
    for key, value in net.state_dict().items():
        assert_close(value.numpy(), before[key], what=f"{key} after a refused load")


def test_load_keeps_the_parameters_device() -> None:
    net = Owner().to("sim:1")
    net.load_state_dict(Owner().state_dict())  # CPU checkpoint
    for name, p in net.named_parameters():
        assert_equal(p.device, reference.device("sim:1"), what=f"device of {name} after loading a CPU state dict")


# --- devices and dtypes ------------------------------------------------------------------------


def test_to_moves_parameters_in_place_and_buffers_but_not_plain_tensors() -> None:
    m = Owner()
    params = dict(m.named_parameters())
    m(reference.rand(1, 2)).sum().backward()
    assert m.to("sim:1") is m
    for name, p in m.named_parameters():
        assert p is params[name], f"{name} is a new object after .to()"
        assert_equal(p.device, reference.device("sim:1"), what=f"{name}.device")
        assert_equal(p.grad.device, reference.device("sim:1"), what=f"{name}.grad.device")  # type: ignore[union-attr]
    assert_equal(m.running.device, reference.device("sim:1"), what="buffer device")
    assert_equal(m.scratch.device, reference.device("sim:1"), what="non-persistent buffer device")
    assert_equal(m.plain.device, reference.device("cpu"), what="plain tensor attribute device (PyTorch leaves it)")
    out = m(reference.rand(1, 2, device="sim:1"))
    assert_equal(out.device, reference.device("sim:1"), what="output device")


def test_to_dtype_casts_floating_members_only() -> None:
    m = Owner()
    m.register_buffer("steps", reference.tensor([3]))
    m.to(reference.float64)
    assert_equal({p.dtype for p in m.parameters()}, {np.dtype("float64")}, what="parameter dtypes")
    assert_equal(m.steps.dtype, np.dtype("int64"), what="integer buffer dtype")
    with pytest.raises(reference.DTypeError):
        m.to(reference.int32)


def test_to_an_unavailable_device_fails_before_moving_anything() -> None:
    m = Owner()
    with pytest.raises(reference.DeviceError):
        m.to("sim:7")
    assert all(p.device == reference.device("cpu") for p in m.parameters())


# --- printing and Sequential -----------------------------------------------------------------


def test_repr_shows_nesting_like_pytorch() -> None:
    block = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    outer = nn.Sequential()
    outer.add_module("block 0", block)
    net = nn.Sequential(outer, nn.Linear(8, 1, bias=False))
    expected = (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (block 0): Sequential(\n"
        "      (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "      (1): ReLU()\n"
        "    )\n"
        "  )\n"
        "  (1): Linear(in_features=8, out_features=1, bias=False)\n"
        ")"
    )
    assert_equal(repr(net), expected, what="repr(net)")


@SETTINGS
@given(size=st.integers(1, 6), data=st.data())
def test_sequential_indexing_len_iteration(size: int, data: st.DataObject) -> None:
    layers = [nn.Linear(2, 2) if i % 2 else nn.ReLU() for i in range(size)]
    net = nn.Sequential(*layers)
    index = data.draw(st.integers(-size, size - 1), label="index")
    assert net[index] is layers[index], f"net[{index}] is not layers[{index}]"
    assert_equal(len(net), size, what="len")
    assert all(a is b for a, b in zip(net, layers, strict=True)), "iteration order"
    with pytest.raises(IndexError):
        net[size]
    assert [m for m in net[1:]] == layers[1:]


def test_sequential_append_ordered_dict_and_forward() -> None:
    net = nn.Sequential(OrderedDict([("first", nn.Linear(3, 2)), ("act", nn.ReLU())]))
    net.append(nn.Linear(2, 1))
    assert_equal(list(net._modules), ["first", "act", "2"], what="keys")
    x = reference.rand(5, 3)
    expected = net[2](net[1](net[0](x)))
    assert_close(net(x).detach().numpy(), expected.detach().numpy(), what="Sequential forward")


def test_linear_default_init_bounds_and_shapes() -> None:
    layer = nn.Linear(16, 4)
    bound = 1 / np.sqrt(16)
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert bool(np.all(np.abs(values) <= bound)), f"values outside ±{bound}: {values}"
    assert_equal((layer.weight.shape, layer.bias.shape), ((4, 16), (4,)), what="Linear(16, 4) shapes")  # type: ignore[union-attr]
    with pytest.raises(reference.ShapeMismatchError, match="last dimension is 16"):
        layer(reference.ones(2, 3))
