"""Devices: names, equality, counting, try_gpu, and the strict rules for
tensors on different devices."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import DeviceError, DeviceMismatchError, sim

from .assertions import assert_bits_equal, assert_equal
from .draws import SETTINGS, any_arrays, devices

# --- names and equality -------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "type_", "index", "text"),
    [
        ("cpu", "cpu", None, "cpu"),
        ("sim", "sim", None, "sim"),
        ("sim:0", "sim", 0, "sim:0"),
        ("sim:12", "sim", 12, "sim:12"),
    ],
)
def test_device_parses_type_and_index(spec: str, type_: str, index: int | None, text: str) -> None:
    dev = reference.device(spec)
    assert_equal((dev.type, dev.index, str(dev)), (type_, index, text), what=f"device({spec!r})")


def test_bare_sim_differs_from_sim_0_but_places_there() -> None:
    assert reference.device("sim") != reference.device("sim:0"), (
        "device('sim') == device('sim:0'); expected unequal (index None vs 0)"
    )
    t = reference.ones(2, device="sim")
    assert_equal(t.device, reference.device("sim:0"), what="device of a tensor created on 'sim'")
    assert t.device != reference.device("sim"), "tensor.device compared equal to the unindexed device('sim')"


def test_device_equality_and_hash_follow_type_and_index() -> None:
    assert reference.device("sim:1") == reference.device("sim", 1)
    assert hash(reference.device("sim:1")) == hash(reference.Device("sim", 1))
    assert reference.device("cpu") != reference.device("sim:0")
    assert reference.device(reference.device("sim:1")) is reference.device("sim:1")


def test_device_is_immutable() -> None:
    dev = reference.device("sim:1")
    with pytest.raises(AttributeError):
        dev.index = 0  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["gpu", "cuda:0", "sim:-1", "sim:01", "sim:", "cpu:0", " sim", "SIM", ""])
def test_malformed_device_strings_are_refused(bad: str) -> None:
    with pytest.raises(DeviceError):
        reference.device(bad)


def test_device_repr_reads_like_torch() -> None:
    assert_equal(repr(reference.device("sim:1")), "device(type='sim', index=1)", what="repr")
    assert_equal(repr(reference.device("cpu")), "device(type='cpu')", what="repr")


# --- counting ------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_set_device_count_controls_devices_and_try_gpu(count: int) -> None:
    sim.set_device_count(count)
    assert_equal(sim.device_count(), count, what="device_count()")
    expected_all = [reference.device(f"sim:{i}") for i in range(count)] or [reference.device("cpu")]
    assert_equal(reference.try_all_gpus(), expected_all, what="try_all_gpus()")
    for i in range(count + 2):
        expected = reference.device(f"sim:{i}") if count >= i + 1 else reference.device("cpu")
        assert_equal(reference.try_gpu(i), expected, what=f"try_gpu({i}) with {count} devices")
    for i in range(count):
        assert_equal(reference.zeros(1, device=f"sim:{i}").device, reference.device(f"sim:{i}"), what="placement")
    with pytest.raises(DeviceError, match=f"{count} simulated device"):
        reference.zeros(1, device=f"sim:{count}")


def test_environment_variable_sets_the_default_count(monkeypatch: pytest.MonkeyPatch) -> None:
    sim.set_device_count(None)
    for count in (0, 1, 3):
        monkeypatch.setenv(sim.ENV_VAR, str(count))
        assert_equal(sim.device_count(), count, what=f"device_count() with ${sim.ENV_VAR}={count}")
    monkeypatch.delenv(sim.ENV_VAR)
    assert_equal(sim.device_count(), 2, what="default device_count()")
    monkeypatch.setenv(sim.ENV_VAR, "two")
    with pytest.raises(DeviceError, match=sim.ENV_VAR):
        sim.device_count()


def test_environment_variable_is_read_in_a_fresh_process() -> None:
    code = "import reference; print(reference.sim.device_count(), reference.try_all_gpus())"
    root = os.path.dirname(os.path.dirname(os.path.abspath(reference.__file__)))
    env = {**os.environ, "BLOCKSPEC_SIM_DEVICES": "3", "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("3 "), f"observed {out!r}, expected a count of 3"


def test_unavailable_device_error_names_the_count() -> None:
    sim.set_device_count(1)
    with pytest.raises(DeviceError, match="1 simulated device") as info:
        reference.ones(2).to("sim:1")
    assert "sim:1" in str(info.value)


# --- tensors across devices ----------------------------------------------------


def test_mixing_devices_raises_naming_both() -> None:
    x = reference.ones(2, 3)
    y = reference.ones(2, 3, device="sim:1")
    z = reference.ones(2, 3, device="sim:0")
    for a, b in [(x, y), (y, x), (y, z)]:
        for op in (lambda p, q: p + q, lambda p, q: p * q, lambda p, q: p - q, lambda p, q: p / q, lambda p, q: p > q):
            with pytest.raises(DeviceMismatchError) as info:
                op(a, b)
            message = str(info.value)
            assert str(a.device) in message and str(b.device) in message, (
                f"message {message!r} does not name {a.device} and {b.device}"
            )
    with pytest.raises(DeviceMismatchError):
        reference.ones(3, 2) @ reference.ones(2, 3, device="sim:0")


def test_zero_dim_cpu_tensor_is_promoted_like_a_scalar() -> None:
    y = reference.ones(2, 3, device="sim:1")
    scale = reference.tensor(2.0)
    for result in (y * scale, scale * y, y + scale, scale - y):
        assert_equal(result.device, reference.device("sim:1"), what="device of sim tensor combined with 0-d CPU tensor")
    np.testing.assert_array_equal((y * scale).cpu().numpy(), np.full((2, 3), 2.0, np.float32))
    # The exception is for CPU only: a 0-d sim tensor does not promote.
    with pytest.raises(DeviceMismatchError):
        reference.ones(2, 3) + reference.tensor(1.0, device="sim:0")
    # ... and a 1-element (but not 0-d) CPU tensor does not either.
    with pytest.raises(DeviceMismatchError):
        y + reference.ones(1)


def test_result_lives_on_the_operands_device() -> None:
    a = reference.rand(2, 3, device="sim:1")
    b = reference.rand(3, 4, device="sim:1")
    for result in (a + 1, a * a, a @ b, a.sum(), a.abs(), a.relu(), -a, a[0], a.T, a.mean(), a > 0.5):
        assert_equal(result.device, reference.device("sim:1"), what="result device")


def test_host_reads_of_device_memory_are_refused() -> None:
    t = reference.ones(2, device="sim:0")
    with pytest.raises(DeviceMismatchError, match=r"\.cpu\(\)"):
        t.numpy()
    with pytest.raises(DeviceMismatchError):
        np.asarray(t)
    with pytest.raises(DeviceMismatchError):
        np.asarray(t._data)  # even the storage refuses implicit conversion
    assert isinstance(t._data, np.ndarray) is False, (
        "a sim tensor's storage is a plain ndarray; expected a device buffer"
    )
    np.testing.assert_array_equal(t.cpu().numpy(), [1.0, 1.0])
    assert_equal(float(t.sum()), 2.0, what="scalar reads copy one element, as in PyTorch")


def test_transfers_copy_so_devices_never_share_memory() -> None:
    x = reference.zeros(3)
    y = x.to("sim:0")
    x[0] = 5.0
    assert_equal(y.cpu().tolist(), [0.0, 0.0, 0.0], what="sim copy after writing the CPU original")
    z = y.to("cpu")
    with reference.no_grad():
        y += 1
    assert_equal(z.tolist(), [0.0, 0.0, 0.0], what="CPU copy after writing the sim original")


def test_to_same_device_returns_self() -> None:
    t = reference.ones(2, device="sim:1")
    assert t.to("sim:1") is t
    assert t.to(reference.device("sim:1"), reference.float32) is t
    assert t.to("sim:1", copy=True) is not t


@SETTINGS
@given(array=any_arrays(), first=devices(), second=devices())
def test_to_round_trip_is_bit_exact(array: np.ndarray, first: str, second: str) -> None:
    t = reference.tensor(array)
    back = t.to(first).to(second).to("cpu")
    assert_bits_equal(back.numpy(), array, what=f"cpu -> {first} -> {second} -> cpu")


def test_nan_payload_and_negative_zero_survive_transfers() -> None:
    bits = np.array([0x7FC00001, 0xFFA00042, 0x80000000, 0x00000001], dtype=np.uint32)
    values = bits.view(np.float32)
    back = reference.tensor(values).to("sim:1").to("sim:0").cpu().numpy()
    assert_equal(back.view(np.uint32).tolist(), bits.tolist(), what="float32 bit patterns after a device round trip")
    negative_zero = struct.unpack("<Q", struct.pack("<d", -0.0))[0]
    d = reference.tensor(np.array([-0.0])).to("sim:0").cpu().numpy()
    assert_equal(int(d.view(np.uint64)[0]), negative_zero, what="-0.0 float64 bits")


@SETTINGS
@given(device=devices(), label=st.sampled_from(["add", "matmul"]))
def test_gradients_live_on_the_parameters_device(device: str, label: str) -> None:
    w = reference.nn.Parameter(reference.ones(3, 3, device=device))
    x = reference.ones(2, 3, device=device)
    out = (x @ w) if label == "matmul" else (x + w[0])
    out.sum().backward()
    assert w.grad is not None, "no gradient reached the parameter"
    assert_equal(w.grad.device, reference.device(device), what="device of the gradient")
