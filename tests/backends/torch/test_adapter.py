"""conformance.backends.torch: what the PyTorch adapter itself defines (dtypes, devices, bits, views, files),
checked against what torch itself says. The walk it shares with the reference is tested in test_torchlike.py."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from safetensors import safe_open  # noqa: E402

from conformance import arch as A  # noqa: E402
from conformance._protocol import LAYOUTS, LoadRejected  # noqa: E402
from conformance.backends.torch import blocks  # noqa: E402
from conformance.backends.torch._adapter import TorchBackend  # noqa: E402

#: Values a bfloat16 holds exactly (8 bits of mantissa), signed zero and infinities included.
BF16_EXACT = np.array([[1.0, -2.5, 0.15625], [-0.0, np.inf, -1.5 * 2.0**120]], dtype=np.float32)

#: Set when an unpickled object ran its code.
_RAN: list[str] = []


def _mark_ran(what: str) -> str:
    _RAN.append(what)
    return what


class _RunsCode:
    """What a malicious checkpoint holds: an object whose unpickling calls a function."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_mark_ran, ("unpickled",))


#: The adapter holds no state of its own: one serves every test.
TORCH = TorchBackend()


def test_every_dtype_named_makes_a_tensor_of_torch_s_dtype_and_its_bits_name_it() -> None:
    array = np.array([[0, 1, 2], [3, 4, 5]])
    for name in TORCH.dtypes:
        t = TORCH.tensor(array, dtype=name)
        expected = getattr(torch, name)
        assert t.dtype == expected, f"{name}: observed tensor dtype {t.dtype}; expected torch.{name}"
        got_name, shape, raw = TORCH.bits(t)
        assert (got_name, shape) == (name, (2, 3)), (
            f"{name}: observed bits {(got_name, shape)}; expected {name}, (2, 3)"
        )
        if name != "bfloat16":  # NumPy has no bfloat16; its bits are pinned below
            want = array.astype(name).tobytes()
            assert raw == want, f"{name}: observed bytes {raw!r}; expected NumPy's {want!r}"


def test_bfloat16_bits_are_the_upper_half_of_float32_and_to_numpy_widens_exactly() -> None:
    # Transposed first, so the bits come from a tensor that is not contiguous.
    t = TORCH.tensor(BF16_EXACT, dtype="bfloat16").T
    name, shape, raw = TORCH.bits(t)
    host = np.ascontiguousarray(BF16_EXACT.T)
    want = (host.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    assert (name, shape, raw) == ("bfloat16", (3, 2), want), (
        f"observed {(name, shape, raw)!r}; expected ('bfloat16', (3, 2), {want!r}), the float32 upper halves"
    )
    values = TORCH.to_numpy(t)
    assert values.dtype == np.float32, f"observed to_numpy dtype {values.dtype}; expected float32 for bfloat16"
    np.testing.assert_array_equal(values, host, err_msg="to_numpy of bfloat16: observed values; expected exact")
    assert np.signbit(values[0, 1]), f"observed {values[0, 1]!r}; expected -0.0 kept"


def test_tensor_takes_torch_s_default_device_when_none_is_given_and_the_device_named_otherwise() -> None:
    with torch.device("meta"):  # torch's own default-device context: factories honour it, from_numpy does not
        default = TORCH.tensor(np.ones(3, dtype=np.float32))
    assert default.device.type == "meta", f"observed {default.device}; expected the default device, meta"
    named = TORCH.tensor(np.ones(3, dtype=np.float32), device="meta", dtype="float16")
    assert (named.device.type, named.dtype) == ("meta", torch.float16), (
        f"observed {named.device}, {named.dtype}; expected meta, torch.float16"
    )


def test_to_numpy_detaches_and_keeps_every_other_dtype() -> None:
    for name in ("float16", "float32", "float64"):
        t = torch.tensor([1.5, -2.0], dtype=getattr(torch, name), requires_grad=True)
        out = TORCH.to_numpy(t * 2)
        assert out.dtype == np.dtype(name), f"{name}: observed {out.dtype}; expected {name} kept"
        assert out.tolist() == [3.0, -4.0], f"{name}: observed {out.tolist()}; expected [3.0, -4.0]"


def test_strided_views_are_torch_views_holding_numpy_s_values() -> None:
    array = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    t = torch.tensor(array)
    for layout, numpy_view in LAYOUTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's deprecated .T of a 3-D tensor warns: the adapter must not use it
            view = TORCH.strided_view(t, layout)
        want = numpy_view(array)
        np.testing.assert_array_equal(view.numpy(), want, err_msg=f"{layout}: observed values; expected NumPy's")
        same = view.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()
        assert same, f"{layout}: observed a view on other memory; expected torch's own view, no copy"


def test_accelerators_are_the_cuda_devices_torch_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    for count in (0, 1, 3):
        monkeypatch.setattr(torch.cuda, "device_count", lambda count=count: count)
        want = [f"cuda:{i}" for i in range(count)]
        assert TORCH.accelerators() == want, f"{count} GPUs: observed {TORCH.accelerators()}; expected {want}"
        assert TORCH.device_count() == count, f"observed {TORCH.device_count()}; expected {count}"
    assert TORCH.accelerator_type() == "cuda", f"observed {TORCH.accelerator_type()!r}; expected 'cuda'"


def test_version_and_environment_are_torch_s_own() -> None:
    assert TORCH.version() == torch.__version__, f"observed {TORCH.version()!r}; expected {torch.__version__!r}"
    env = TORCH.environment()
    want = {"torch_cuda": str(torch.version.cuda), "cuda_devices": str(torch.cuda.device_count())}
    assert {k: env.get(k) for k in want} == want, f"observed {env}; expected at least {want}"
    if torch.cuda.is_available():
        assert env.get("cuda_device_name") == torch.cuda.get_device_name(0), f"observed {env}; expected the GPU name"


def test_load_reads_what_torch_saves_and_maps_it_where_asked(tmp_path: Path) -> None:
    x = torch.arange(3.0)
    path = tmp_path / "xs.pt"
    torch.save({"x": x, "pair": [x, x + 1]}, path)
    loaded = TORCH.load(path)
    assert torch.equal(loaded["x"], x) and torch.equal(loaded["pair"][1], x + 1), f"observed {loaded}; expected it"
    mapped = TORCH.load(path, map_location="meta")
    assert mapped["x"].device.type == "meta", f"observed {mapped['x'].device}; expected map_location='meta' honoured"
    TORCH.save({"x": x}, tmp_path / "ours.pt")  # and what the backend saves is torch's own file
    back = torch.load(tmp_path / "ours.pt", weights_only=True)
    assert torch.equal(back["x"], x), f"observed {back}; expected torch.load to read the backend's file"


def test_load_refuses_a_checkpoint_that_would_run_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(2), "payload": _RunsCode()}, path)
    _RAN.clear()
    with pytest.raises(pickle.UnpicklingError):
        TORCH.load(path)
    assert _RAN == [], f"observed code run while loading: {_RAN}; expected torch's weights_only refusal first"


def test_a_state_dict_torch_refuses_is_a_load_rejection_with_torch_s_message() -> None:
    layer = torch.nn.Linear(2, 3)
    wrong = {"weight": torch.zeros(4, 4), "bias": torch.zeros(3)}
    with pytest.raises(LoadRejected, match=r"(?s)^RuntimeError: .*size mismatch for weight"):
        TORCH.load_state_dict(layer, wrong, strict=True)


def test_write_safetensors_keeps_one_name_per_tie_and_read_gives_torch_tensors(tmp_path: Path) -> None:
    net = blocks.tied_net()
    path = tmp_path / "tied.safetensors"
    TORCH.write_safetensors(net, path)
    with safe_open(str(path), "numpy") as handle:
        keys, aliases = sorted(handle.keys()), handle.metadata()
    want = ["0.bias", "0.weight", "2.bias", "2.weight", "6.bias", "6.weight"]
    assert keys == want, f"observed keys {keys}; expected each tensor once: {want}"
    assert aliases == {"4.weight": "2.weight", "4.bias": "2.bias"}, f"observed aliases {aliases}; expected 4.* -> 2.*"
    read = TORCH.read_safetensors(path)
    state = net.state_dict()
    for key in want:
        assert isinstance(read[key], torch.Tensor), f"{key}: observed {type(read[key])}; expected a torch.Tensor"
        assert torch.equal(read[key], state[key]), f"{key}: observed {read[key]}; expected the module's {state[key]}"


def test_every_declared_float_dtype_builds_and_runs_a_layer_on_the_cpu() -> None:
    weight = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0]])
    bias = np.array([0.5, -1.0, 2.0])
    node = A.Linear(2, 3, values=A.LinearValues(weight, bias))
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    for name in TORCH.float_dtypes:
        layer = TORCH.build(node, dtype=name)
        out = TORCH.forward(layer, TORCH.tensor(x, dtype=name))
        assert out.dtype == getattr(torch, name), f"{name}: observed output dtype {out.dtype}; expected torch.{name}"
        got = TORCH.to_numpy(out)
        np.testing.assert_array_equal(got, x @ weight.T + bias, err_msg=f"{name}: observed output; expected x W^T + b")


def test_like_takes_the_dtype_and_device_of_the_tensor() -> None:
    target = torch.zeros(2, dtype=torch.bfloat16, device="meta")
    like = TORCH._like(np.array([1.0, 2.0]), target)
    assert (like.dtype, like.device.type) == (torch.bfloat16, "meta"), (
        f"observed {like.dtype} on {like.device}; expected torch.bfloat16 on meta"
    )
