"""conformance.backends.reference: what the reference adapter itself defines (dtypes, simulated devices, bits, its
own safetensors writer), checked against NumPy and the reference. The shared walk is tested in test_torchlike.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open

import reference
from conformance import arch as A
from conformance._protocol import LoadRejected
from conformance.backends.reference._adapter import ReferenceBackend
from reference import chapter, nn, sim

#: The adapter holds no state of its own (the simulated device count is the reference's): one serves every test.
REFERENCE = ReferenceBackend()


@pytest.fixture(autouse=True)
def _two_simulated_devices() -> Iterator[None]:
    """sim:0 and sim:1, whatever $BLOCKSPEC_SIM_DEVICES says; the default count restored afterwards."""
    sim.set_device_count(2)
    reference.manual_seed(0)
    yield
    sim.set_device_count(None)


def _host(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy())


def test_every_dtype_named_makes_a_tensor_of_numpy_s_dtype_and_its_bits_are_numpy_s() -> None:
    array = np.array([[0, 1, 2], [3, 4, 5]])
    for name in REFERENCE.dtypes:
        t = REFERENCE.tensor(array, dtype=name)
        assert t.dtype == np.dtype(name), f"{name}: observed tensor dtype {t.dtype}; expected NumPy's {name}"
        want = (name, (2, 3), array.astype(name).tobytes())
        assert REFERENCE.bits(t) == want, f"{name}: observed bits {REFERENCE.bits(t)!r}; expected {want!r}"


def test_tensor_is_placed_on_the_simulated_device_named() -> None:
    t = REFERENCE.tensor(np.arange(3.0), device="sim:1", dtype="float16")
    assert (t.device, t.dtype) == (reference.device("sim:1"), np.float16), (
        f"observed {t.device}, {t.dtype}; expected sim:1, float16"
    )
    default = REFERENCE.tensor(np.arange(3.0))
    assert (default.device, default.dtype) == (reference.device("cpu"), np.float64), (
        f"observed {default.device}, {default.dtype}; expected the reference's default: cpu, the array's float64"
    )


def test_bits_read_a_view_on_a_simulated_device_in_c_order() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    view = REFERENCE.tensor(array, device="sim:1").T
    want = ("float32", (3, 2), np.ascontiguousarray(array.T).tobytes())
    assert REFERENCE.bits(view) == want, f"observed {REFERENCE.bits(view)!r}; expected {want!r}"


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_simulated_count_sets_the_accelerators_and_the_environment(count: int) -> None:
    assert "device-count-control" in REFERENCE.capabilities, "observed no device-count-control; expected it declared"
    REFERENCE.set_device_count(count)
    assert sim.device_count() == count, f"observed the reference counting {sim.device_count()}; expected {count}"
    want = [f"sim:{i}" for i in range(count)]
    assert REFERENCE.accelerators() == want, f"observed {REFERENCE.accelerators()}; expected {want}"
    assert REFERENCE.device_count() == count, f"observed {REFERENCE.device_count()}; expected {count}"
    assert REFERENCE.accelerator_type() == "sim", f"observed {REFERENCE.accelerator_type()!r}; expected 'sim'"
    env = REFERENCE.environment()
    assert env == {"numpy": np.__version__, "simulated_devices": str(count)}, f"observed {env}"


def test_load_reads_what_save_wrote_and_maps_it_where_asked(tmp_path: Path) -> None:
    x = REFERENCE.tensor(np.arange(4.0), device="sim:1")
    path = tmp_path / "xs.safetensors"
    REFERENCE.save({"x": x, "pair": [x, x + 1]}, path)
    loaded = reference.load(path)  # what the backend saves is the reference's own file
    assert loaded["x"].device == reference.device("sim:1"), f"observed {loaded['x'].device}; expected sim:1 kept"
    back = REFERENCE.load(path)
    assert _host(back["pair"][1]).tolist() == [1.0, 2.0, 3.0, 4.0], f"observed {back['pair'][1]}; expected x + 1"
    mapped = REFERENCE.load(path, map_location="cpu")
    devices = {str(mapped["x"].device), str(mapped["pair"][0].device)}
    assert devices == {"cpu"}, f"observed devices {devices}; expected map_location='cpu' honoured"


def test_a_state_dict_the_reference_refuses_is_a_load_rejection_with_its_message() -> None:
    layer = nn.Linear(2, 3)
    wrong = {"weight": reference.zeros(4, 4), "bias": reference.zeros(3)}
    with pytest.raises(LoadRejected, match=r"(?s)^StateDictError: .*size mismatch for 'weight'"):
        REFERENCE.load_state_dict(layer, wrong, strict=True)


def _file(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str] | None]:
    with safe_open(str(path), "numpy") as handle:
        names = handle.keys()  # a safetensors handle is not iterable itself
        return {key: handle.get_tensor(key) for key in names}, handle.metadata()


def test_write_safetensors_stores_each_tied_tensor_once_from_any_device(tmp_path: Path) -> None:
    net = chapter.tied_net().to("sim:1")
    path = tmp_path / "tied.safetensors"
    REFERENCE.write_safetensors(net, path)
    arrays, aliases = _file(path)
    want = ["0.bias", "0.weight", "2.bias", "2.weight", "6.bias", "6.weight"]
    assert sorted(arrays) == want, f"observed keys {sorted(arrays)}; expected each tensor once: {want}"
    assert aliases == {"4.weight": "2.weight", "4.bias": "2.bias"}, f"observed aliases {aliases}; expected 4.* -> 2.*"
    state = net.state_dict()
    for key in want:
        assert np.array_equal(arrays[key], _host(state[key])), f"{key}: observed {arrays[key]}; expected the module's"
    read = REFERENCE.read_safetensors(path)
    for key in want:
        assert isinstance(read[key], reference.Tensor), (
            f"{key}: observed {type(read[key])}; expected a reference tensor"
        )
        assert np.array_equal(_host(read[key]), arrays[key]), f"{key}: observed {read[key]}; expected the file's"


def test_write_safetensors_records_no_aliases_without_a_tie(tmp_path: Path) -> None:
    path = tmp_path / "mlp.safetensors"
    REFERENCE.write_safetensors(chapter.MLP(), path)
    arrays, aliases = _file(path)
    want = ["hidden.bias", "hidden.weight", "out.bias", "out.weight"]
    assert (sorted(arrays), aliases) == (want, None), f"observed {sorted(arrays)}, {aliases}; expected {want}, None"


def test_write_safetensors_aliases_a_tie_to_its_first_path(tmp_path: Path) -> None:
    # safetensors.torch.save_model would keep the sorted-first name ("10.weight"); the adapter keeps the first path.
    shared = nn.Linear(3, 3)
    net = nn.Sequential(shared, *[nn.ReLU() for _ in range(9)], shared)
    path = tmp_path / "far.safetensors"
    REFERENCE.write_safetensors(net, path)
    arrays, aliases = _file(path)
    assert (sorted(arrays), aliases) == (["0.bias", "0.weight"], {"10.weight": "0.weight", "10.bias": "0.bias"}), (
        f"observed {sorted(arrays)}, {aliases}; expected 0.* kept and 10.* its aliases"
    )


@pytest.mark.slow  # imports torch (about 4 s) to compare with its own writer
def test_write_safetensors_names_the_keys_and_aliases_torch_s_save_model_names(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from conformance.backends.torch import TorchBackend, blocks

    for name, ours, theirs in (
        ("tied_net", chapter.tied_net(), blocks.tied_net()),
        ("rgnet", chapter.rgnet(), blocks.rgnet()),
    ):
        REFERENCE.write_safetensors(ours, tmp_path / "ours.safetensors")
        TorchBackend().write_safetensors(theirs, tmp_path / "torch.safetensors")
        mine, my_aliases = _file(tmp_path / "ours.safetensors")
        other, other_aliases = _file(tmp_path / "torch.safetensors")
        shapes = {k: v.shape for k, v in mine.items()}
        want = {k: v.shape for k, v in other.items()}
        assert shapes == want, f"{name}: observed {shapes}; expected torch's {want}"
        assert my_aliases == other_aliases, f"{name}: observed aliases {my_aliases}; expected torch's {other_aliases}"


def test_like_takes_the_dtype_and_device_of_the_tensor() -> None:
    target = REFERENCE.tensor(np.zeros(2), device="sim:1", dtype="float16")
    like = REFERENCE._like(np.array([1.0, 2.0]), target)
    assert (like.dtype, like.device) == (np.float16, reference.device("sim:1")), (
        f"observed {like.dtype} on {like.device}; expected float16 on sim:1"
    )


def test_modules_are_the_reference_s_numpy_backed_objects_in_every_declared_float_dtype() -> None:
    weight = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0]])
    bias = np.array([0.5, -1.0, 2.0])
    node = A.Linear(2, 3, values=A.LinearValues(weight, bias))
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    for name in REFERENCE.float_dtypes:
        layer = REFERENCE.build(node, dtype=name, device="sim:1")
        assert isinstance(layer, nn.Linear), f"{name}: observed {type(layer)}; expected reference.nn.Linear"
        out = REFERENCE.forward(layer, REFERENCE.tensor(x, device="sim:1", dtype=name))
        assert (out.dtype, out.device) == (np.dtype(name), reference.device("sim:1")), (
            f"{name}: observed output {out.dtype} on {out.device}; expected {name} on sim:1"
        )
        got = REFERENCE.to_numpy(out)
        assert np.array_equal(got, x @ weight.T + bias), f"{name}: observed {got}; expected x W^T + b"
    block = REFERENCE.chapter("MLP")
    assert type(block) is chapter.MLP, f"observed {type(block)}; expected the reference's chapter.MLP"
