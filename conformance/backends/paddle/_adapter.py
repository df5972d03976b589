"""The PaddlePaddle adapter (dygraph mode): every member calls Paddle's own API.

How each chapter concept is read from Paddle (docs/paddle.md has the departures):

- Modules are ``paddle.nn.Layer`` objects; children are ``_sub_layers`` (every
  registration, a layer registered twice included: ``named_children()``
  drops the second), parameters ``named_parameters()``, the state dict
  ``state_dict()`` (every alias path), buffers ``named_buffers()``.
- Parameters are ``EagerParamBase`` tensors; ``assign`` is ``set_value``, the
  initializers are ``paddle.nn.initializer`` objects called on a parameter.
- A float64 module is built the Paddle way: ``paddle.set_default_dtype`` while
  its layers are made (restored after), so ``nn.Linear`` and
  ``create_parameter`` make float64 parameters.
- Loading is ``Layer.set_state_dict``, which has no ``strict`` argument: it
  warns and skips missing and mis-shaped keys and returns ``(missing,
  unexpected)``; the adapter passes ``strict`` nowhere and checks nothing.
  Paddle refuses another dtype with an ``AssertionError`` from
  ``Tensor.set_value``; that refusal is passed on as ``LoadRejected``. Any other
  ``AssertionError`` raised inside Paddle is re-raised as a ``RuntimeError``
  (a crash of the framework, not a clause violation).
- Files are ``paddle.save``/``paddle.load`` (pickle, ``.pdparams``), what
  Paddle's docs and d2l-zh use. ``paddle.load`` has no ``map_location``: it
  puts tensors on the current device (``paddle.set_device``), so ``load``
  with a location sets that device for the call and restores it.
- Devices are Paddle's names: ``cpu``, ``gpu:i`` (``Place(gpu:0)`` read as
  ``gpu:0``). The CPU wheel has no accelerator, so the accelerator clauses are
  ``skipped`` there; a CUDA build lists ``paddle.device.cuda.device_count()``
  GPUs. Paddle has no LazyLinear (``lazy-init`` is not declared).
- Layout: ``nn.Linear`` stores its weight (in, out) and computes ``X @ W + b``,
  as the chapter's ``MyLinear`` does; the adapter declares that layout
  (``weight_layouts``) and shows every weight as Paddle holds it: handles are
  Paddle's parameters themselves, and state dicts, files, gradients,
  ``assign`` and loads carry Paddle's (in, out) tensors, never a transpose.
- A parameter-level tie is Paddle's own attribute assignment (``my.weight =
  lin.weight``): both layers hold the one parameter (``param-ties``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import paddle
from paddle import nn

from conformance import arch as A
from conformance._protocol import Gradients, LoadResult, weight_layouts
from conformance.backends import _kit as kit
from conformance.backends._children import IndexedByFramework
from conformance.backends.paddle import blocks

_DTYPES = {
    "float16": paddle.float16,
    "bfloat16": paddle.bfloat16,
    "float32": paddle.float32,
    "float64": paddle.float64,
    "int8": paddle.int8,
    "int16": paddle.int16,
    "int32": paddle.int32,
    "int64": paddle.int64,
    "uint8": paddle.uint8,
    "bool": paddle.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


#: An AssertionError raised inside Paddle is a crash of the framework, not a clause violation.
_inside_paddle = functools.partial(kit.inside, "Paddle")


@contextlib.contextmanager
def _default_dtype(name: Any) -> Iterator[None]:
    """Paddle's way to make layers in a dtype: its default dtype while they are created."""
    before = paddle.get_default_dtype()
    paddle.set_default_dtype(name)
    try:
        yield
    finally:
        paddle.set_default_dtype(before)


def _device_name(place: Any) -> str:
    """Paddle's own spelling of a place: ``Place(gpu:0)`` is ``gpu:0``."""
    text = str(place)
    return text[len("Place(") : -1] if text.startswith("Place(") and text.endswith(")") else text


class PaddleBackend(IndexedByFramework, kit.TreeBuilder, kit.StateDictCheckpoints):
    """PaddlePaddle 3 in dygraph mode, checked against the spec through its public API."""

    name = "paddle"
    capabilities = frozenset(
        {
            "mutable-parameters",
            "grad-attribute",
            "apply",
            "custom-sequential",
            "buffers",
            "module-repr",
            "file-io",
            "module-checkpoint",
            "container-keys",
            "accelerator",
            "multi-device",
            "device-names",
            "device-objects",
            "dtype-conversion",
            "param-ties",
        }
    )
    #: Paddle's nn.Linear stores its weight (in_features, out_features) and computes X @ W, as MyLinear does.
    weight_layouts = MappingProxyType({"Linear": A.IN_OUT, "MyLinear": A.IN_OUT})
    float_dtypes = ("float32", "float64")
    dtypes = tuple(_DTYPES)
    host_device = "cpu"
    #: Paddle's known departures from the spec (see the file and docs/paddle.md): xfail while they fail.
    known_failures = Path(__file__).with_name("known_failures.toml")
    #: Paddle's departures as the writer of a safetensors file another framework reads (blockspec interop).
    interop_writer_failures = Path(__file__).with_name("interop_known_failures.toml")
    blocks: Any = blocks
    linear_class: Any = nn.Linear  # an attribute, so that a variant (a mutant) can swap it

    def __init__(self) -> None:
        inits = nn.initializer
        initializers: dict[str, Callable[..., Any]] = {
            "normal": lambda mean, std: inits.Normal(mean=mean, std=std),
            "zeros": lambda: inits.Constant(0.0),
            "constant": lambda value: inits.Constant(value),
            "uniform": lambda a, b: inits.Uniform(low=a, high=b),
            "xavier_uniform": lambda gain: inits.XavierUniform(gain=gain),
        }
        self._initializers = kit.initializer_table(initializers)

    def version(self) -> str:
        return str(paddle.version.full_version)

    def environment(self) -> dict[str, str]:
        return {
            "paddle_cuda": str(paddle.version.cuda()),
            "compiled_with_cuda": str(paddle.device.is_compiled_with_cuda()),
            "gpu_devices": str(paddle.device.cuda.device_count()),
            "current_device": paddle.device.get_device(),
        }

    # --- tensors and devices ---------------------------------------------------------------
    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        name: Any = dtype
        return paddle.to_tensor(np.asarray(array), dtype=name, place=device)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        t = tensor.detach()
        if t.dtype == paddle.bfloat16:
            t = t.astype("float32")
        result: np.ndarray = np.array(t.numpy())
        return result

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        t = tensor.detach()
        return _NAMES[t.dtype], tuple(t.shape), np.ascontiguousarray(t.numpy()).tobytes()

    def strided_view(self, tensor: Any, layout: str) -> Any:
        if layout == "transposed":
            return paddle.transpose(tensor, list(reversed(range(len(tensor.shape)))))
        return tensor[::2] if layout == "step" else tensor[1:]

    def device_of(self, tensor: Any) -> str:
        return _device_name(tensor.place)

    def accelerators(self) -> list[str]:
        return [f"gpu:{i}" for i in range(paddle.device.cuda.device_count())]

    def device_count(self) -> int:
        return int(paddle.device.cuda.device_count())

    def accelerator_type(self) -> str:
        return "gpu"

    def device_equal(self, a: str, b: str) -> bool:
        # The Place objects paddle.to_tensor(place=...) makes from these names.
        from paddle.base.framework import _get_paddle_place

        return bool(_get_paddle_place(a) == _get_paddle_place(b))  # type: ignore[no-untyped-call]

    def try_gpu(self, i: int = 0) -> str:
        return _device_name(self.blocks.try_gpu(i))

    def try_all_gpus(self) -> list[str]:
        return [_device_name(d) for d in self.blocks.try_all_gpus()]

    def to_device(self, tensor: Any, device: str) -> Any:
        return tensor.to(device)

    def add(self, a: Any, b: Any) -> Any:
        with _inside_paddle():
            return a + b

    def module_to(self, module: Any, device: str) -> Any:
        return module.to(device=device)

    def module_to_dtype(self, module: Any, dtype: str) -> Any:
        return module.to(dtype=dtype)

    # --- building ---------------------------------------------------------------------------
    def _write(self, parameter: Any, array: np.ndarray) -> None:
        with _inside_paddle():
            parameter.set_value(paddle.to_tensor(np.asarray(array), dtype=parameter.dtype, place=parameter.place))

    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Any:
        b = self.blocks
        layouts = weight_layouts(self)

        def given(layer: Any, node: A.Linear | A.MyLinear) -> Any:
            values = kit.stored_values(node, layouts)
            if values is not None:
                self._write(layer.weight, values[0])
                if values[1] is not None:
                    self._write(layer.bias, values[1])
            return layer

        make = kit.maker(
            "Paddle",
            linear=lambda n: given(
                self.linear_class(n.in_features, n.out_features, bias_attr=None if n.bias else False), n
            ),
            my_linear=lambda n: given(b.MyLinear(n.in_units, n.units), n),
            relu=nn.ReLU,
            # the chapter's classes looked up when a node of their kind is built (kit.chapter_table says why)
            centered=lambda: b.CenteredLayer(),
            block=lambda children: b.Block(children),
            sequential=nn.Sequential,
            my_sequential=lambda *kids: b.MySequential(*kids),
            named=nn.Sequential,
        )

        with _default_dtype(dtype), _inside_paddle():
            module = self.build_tree(node, make)
        return module if device is None else module.to(device=device)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        b = self.blocks
        table = kit.chapter_table(b, lambda: b.MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)))
        with _inside_paddle():
            module = kit.chapter_block(table, name)
        return module if device is None else module.to(device=device)

    def forward(self, module: Any, x: Any) -> Any:
        with _inside_paddle():
            return module(x)

    # --- the layer graph ----------------------------------------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        return [(name, child) for name, child in module._sub_layers.items() if child is not None]

    def named_parameters(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_parameters())

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.state_dict().items())

    def named_buffers(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_buffers())

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        # Paddle has no strict load: set_state_dict warns, skips and reports (strict goes nowhere).
        with kit.refusals(AssertionError):  # Tensor.set_value's dtype check: Paddle's refusal
            missing, unexpected = module.set_state_dict(dict(state))
        return LoadResult(list(missing), list(unexpected))

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, paddle.base.framework.EagerParamBase)

    # --- gradients ------------------------------------------------------------------------------
    def _cotangent(self, cotangent: np.ndarray, out: Any) -> Any:
        return paddle.to_tensor(np.asarray(cotangent), dtype=out.dtype, place=out.place)

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        x = x.detach()
        x.stop_gradient = False
        named = self.named_parameters(module)
        with _inside_paddle():
            out = module(x)
            loss = (out * self._cotangent(cotangent, out)).sum()
            # paddle.grad returns the gradients and leaves no .grad behind
            grads = paddle.grad([loss], [x, *(p for _, p in named)], allow_unused=True)
        names = [n for n, _ in named]
        return kit.gradients_of(names, grads, tuple(x.shape), self.to_numpy, lambda g: _device_name(g.place))

    def backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        with _inside_paddle():
            out = module(x)
            (out * self._cotangent(cotangent, out)).sum().backward()

    def grad(self, parameter: Any) -> np.ndarray | None:
        grad = parameter.grad
        return None if grad is None else self.to_numpy(grad)

    # --- initialization ---------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        paddle.seed(seed)

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        init = kit.initializer(self._initializers, scheme, kwargs)
        with _inside_paddle():
            init(parameter)

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any], None] = getattr(self.blocks, name)
        return fn

    # --- mutable-parameters, apply, module-repr ------------------------------------------------------
    def assign(self, parameter: Any, value: np.ndarray) -> None:
        self._write(parameter, value)

    def apply(self, module: Any, fn: Callable[[Any], None]) -> None:
        module.apply(fn)

    def describe(self, module: Any) -> str:
        return str(module)

    # --- files ------------------------------------------------------------------------------------------
    def write_safetensors(self, module: Any, path: Path) -> None:
        # What Paddle users call for a safetensors file: safetensors' own Paddle module on the state dict.
        import safetensors.paddle

        safetensors.paddle.save_file(module.state_dict(), str(path))

    def read_safetensors(self, path: Path) -> dict[str, Any]:
        import safetensors.paddle

        return dict(safetensors.paddle.load_file(str(path)))

    def save(self, obj: Any, path: Path) -> None:
        paddle.save(obj, str(path))

    def load(self, path: Path, map_location: str | None = None) -> Any:
        # paddle.load puts tensors on the current device; it has no map_location of its own.
        if map_location is None or map_location == paddle.device.get_device():
            return paddle.load(str(path))
        before = paddle.device.get_device()
        paddle.device.set_device(map_location)
        try:
            return paddle.load(str(path))
        finally:
            paddle.device.set_device(before)
