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
- Layout: ``nn.Linear`` stores its weight (in, out) and computes ``X @ W + b``.
  Today's protocol wants an (out, in) ``weight``; :func:`_suite_layout` is the
  one place that translates, until the native-layout protocol lands.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import nn

from conformance import arch as A
from conformance._protocol import Gradients, LoadRejected, LoadResult
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


# --- layout: until the native-layout protocol lands ---------------------------------------------
def _suite_layout(weight: Any) -> Any:
    """A Linear weight between Paddle's (in, out) and the (out, in) today's protocol shows the suite.

    UNTIL THE NATIVE-LAYOUT PROTOCOL LANDS: Paddle's ``nn.Linear`` stores its
    weight (in, out) and computes ``X @ W``; the suite of today expects
    ``weight`` (out, in). This transpose (its own inverse, a strided view for
    a Paddle tensor) is applied to a Linear's weight, and only to it, where it
    crosses to or from the suite: the handle's value, its gradient, values
    written or loaded into it. Tensors of another rank (a rank-mismatch load)
    pass as they are. The switch, once a backend can declare its layouts
    (tested against the ``layouts`` branch at 22f8033): return ``weight``
    unchanged here, declare ``weight_layouts = {"Linear": "in_out",
    "MyLinear": "in_out"}`` and ``param-ties``, and let ``_handles`` return
    the pairs as they are (a ``LinearWeight`` handle is a second object for
    one parameter, which TIE-PARAM-IDENTITY rightly refuses).
    """
    return weight.T if len(weight.shape) == 2 else weight


class LinearWeight:
    """The suite's handle on a Paddle ``nn.Linear``'s weight, seen through :func:`_suite_layout`.

    One per layer (the adapter keeps them), so the handle of a shared layer's
    weight is one object wherever the layer is registered.
    """

    __slots__ = ("__weakref__", "layer")

    def __init__(self, layer: nn.Linear) -> None:
        self.layer = layer

    @property
    def parameter(self) -> Any:
        return self.layer.weight

    def __repr__(self) -> str:
        return f"LinearWeight({self.layer!r})"


@contextlib.contextmanager
def _inside_paddle() -> Iterator[None]:
    """An AssertionError raised inside Paddle is a crash of the framework, not a clause violation."""
    try:
        yield
    except AssertionError as exc:
        raise RuntimeError(f"Paddle raised AssertionError: {exc}") from exc


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


class PaddleBackend:
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
            "container-keys",
            "accelerator",
            "multi-device",
            "device-names",
            "device-objects",
            "dtype-conversion",
        }
    )
    float_dtypes = ("float32", "float64")
    dtypes = tuple(_DTYPES)
    host_device = "cpu"
    #: Paddle's known departures from the spec (see the file and docs/paddle.md): xfail while they fail.
    known_failures = Path(__file__).with_name("known_failures.toml")
    blocks: Any = blocks
    build_tree: Any = staticmethod(A.build_tree)  # attributes, so that a variant (a mutant) can swap them
    linear_class: Any = nn.Linear

    def __init__(self) -> None:
        self._weights: weakref.WeakKeyDictionary[Any, LinearWeight] = weakref.WeakKeyDictionary()

    def version(self) -> str:
        return str(paddle.version.full_version)

    def environment(self) -> dict[str, str]:
        return {
            "paddle_cuda": str(paddle.version.cuda()),
            "compiled_with_cuda": str(paddle.device.is_compiled_with_cuda()),
            "gpu_devices": str(paddle.device.cuda.device_count()),
            "current_device": paddle.device.get_device(),
        }

    # --- handles ----------------------------------------------------------------------
    def _weight(self, layer: nn.Linear) -> LinearWeight:
        if layer not in self._weights:
            self._weights[layer] = LinearWeight(layer)
        return self._weights[layer]

    def _array(self, obj: Any) -> Any:
        """The Paddle tensor the suite sees for a handle or tensor."""
        return _suite_layout(obj.parameter) if isinstance(obj, LinearWeight) else obj

    @staticmethod
    def _parameter(handle: Any) -> Any:
        """The Paddle parameter behind a handle."""
        return handle.parameter if isinstance(handle, LinearWeight) else handle

    def _linear_weights(self, module: Any) -> dict[int, nn.Linear]:
        """``id`` of each Linear weight under ``module`` (alive while ``module`` is) -> its layer."""
        return {
            id(layer.weight): layer
            for _, layer in module.named_sublayers(include_self=True)
            if isinstance(layer, nn.Linear)
        }

    # --- tensors and devices ---------------------------------------------------------------
    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        name: Any = dtype
        return paddle.to_tensor(np.asarray(array), dtype=name, place=device)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        t = self._array(tensor).detach()
        if t.dtype == paddle.bfloat16:
            t = t.astype("float32")
        result: np.ndarray = np.array(t.numpy())
        return result

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        t = self._array(tensor).detach()
        return _NAMES[t.dtype], tuple(t.shape), np.ascontiguousarray(t.numpy()).tobytes()

    def strided_view(self, tensor: Any) -> Any:
        t = self._array(tensor)
        perm = [1, 0, *range(2, len(t.shape))]
        return paddle.transpose(t, perm)

    def device_of(self, tensor: Any) -> str:
        return _device_name(self._array(tensor).place)

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
        return self._array(tensor).to(device)

    def add(self, a: Any, b: Any) -> Any:
        with _inside_paddle():
            return self._array(a) + self._array(b)

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

        def make(node: A.Node, child: Callable[[A.Node], Any]) -> Any:
            if isinstance(node, A.Linear):
                layer = self.linear_class(node.in_features, node.out_features, bias_attr=None if node.bias else False)
                if node.values is not None:  # given in the chapter's (out, in): Paddle stores the transpose
                    self._write(layer.weight, node.values.weight.T)
                    if node.values.bias is not None:
                        self._write(layer.bias, node.values.bias)
                return layer
            if isinstance(node, A.MyLinear):
                layer = b.MyLinear(node.in_units, node.units)
                if node.values is not None:
                    self._write(layer.weight, node.values.weight)
                    if node.values.bias is not None:
                        self._write(layer.bias, node.values.bias)
                return layer
            if isinstance(node, A.ReLU):
                return nn.ReLU()
            if isinstance(node, A.Centered):
                return b.CenteredLayer()
            if isinstance(node, A.Block):
                return b.Block([(name, child(c)) for name, c in node.children])
            if isinstance(node, A.Sequential):
                kids = [child(c) for c in node.children]
                if node.custom:
                    return b.MySequential(*kids)
                if node.names is None:
                    return nn.Sequential(*kids)
                net = nn.Sequential()
                for name, kid in zip(node.names, kids, strict=True):
                    net.add_sublayer(name, kid)
                return net
            raise TypeError(f"Expected an architecture node Paddle can build (no lazy layers) but got {node!r}")

        with _default_dtype(dtype), _inside_paddle():
            module = self.build_tree(node, make)
        return module if device is None else module.to(device=device)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        b = self.blocks
        factories: dict[str, Callable[[], Any]] = {
            "MLP": b.MLP,
            "FixedHiddenMLP": b.FixedHiddenMLP,
            "MySequential": lambda: b.MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)),
            "block1": b.block1,
            "block2": b.block2,
            "rgnet": b.rgnet,
            "tied_net": b.tied_net,
            "CenteredLayer": b.CenteredLayer,
            "MyLinear": lambda: b.MyLinear(5, 3),
        }
        with _inside_paddle():
            module = factories[name]()
        return module if device is None else module.to(device=device)

    def forward(self, module: Any, x: Any) -> Any:
        with _inside_paddle():
            return module(self._array(x))

    # --- the layer graph ----------------------------------------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        return [(name, child) for name, child in module._sub_layers.items() if child is not None]

    def index(self, module: Any, i: int) -> Any:
        return module[i]

    def length(self, module: Any) -> int:
        return len(module)

    def iterate(self, module: Any) -> list[Any]:
        return list(module)

    def _handles(self, module: Any, pairs: Iterator[tuple[str, Any]]) -> list[tuple[str, Any]]:
        weights = self._linear_weights(module)
        return [(name, self._weight(weights[id(p)]) if id(p) in weights else p) for name, p in pairs]

    def named_parameters(self, module: Any) -> list[tuple[str, Any]]:
        return self._handles(module, module.named_parameters())

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        weights = self._linear_weights(module)
        return [(key, _suite_layout(v) if id(v) in weights else v) for key, v in module.state_dict().items()]

    def named_buffers(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_buffers())

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        # Paddle has no strict load: set_state_dict warns, skips and reports (strict goes nowhere).
        weights = self._linear_weights(module)
        keys = {key for key, v in module.state_dict().items() if id(v) in weights}
        given = {key: _suite_layout(self._array(v)) if key in keys else self._array(v) for key, v in state.items()}
        try:
            missing, unexpected = module.set_state_dict(given)
        except AssertionError as exc:  # Tensor.set_value's dtype check: Paddle's refusal
            raise LoadRejected(str(exc)) from exc
        return LoadResult(list(missing), list(unexpected))

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(self._parameter(obj), paddle.base.framework.EagerParamBase)

    # --- gradients ------------------------------------------------------------------------------
    def _cotangent(self, cotangent: np.ndarray, out: Any) -> Any:
        return paddle.to_tensor(np.asarray(cotangent), dtype=out.dtype, place=out.place)

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        x = self._array(x).detach()
        x.stop_gradient = False
        named = self.named_parameters(module)
        with _inside_paddle():
            out = module(x)
            loss = (out * self._cotangent(cotangent, out)).sum()
            # paddle.grad returns the gradients and leaves no .grad behind
            grads = paddle.grad([loss], [x, *(self._parameter(h) for _, h in named)], allow_unused=True)
        params: dict[str, np.ndarray] = {}
        devices: dict[str, str] = {}
        for (name, handle), grad in zip(named, grads[1:], strict=True):
            if grad is not None:
                params[name] = self.to_numpy(_suite_layout(grad) if isinstance(handle, LinearWeight) else grad)
                devices[name] = _device_name(grad.place)
        grad_x = grads[0]
        input_grad = np.zeros(tuple(x.shape), dtype=np.float64) if grad_x is None else self.to_numpy(grad_x)
        return Gradients(input_grad, params, devices)

    def backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        with _inside_paddle():
            out = module(self._array(x))
            (out * self._cotangent(cotangent, out)).sum().backward()

    def grad(self, parameter: Any) -> np.ndarray | None:
        grad = self._parameter(parameter).grad
        if grad is None:
            return None
        return self.to_numpy(_suite_layout(grad) if isinstance(parameter, LinearWeight) else grad)

    # --- initialization ---------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        paddle.seed(seed)

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        inits = nn.initializer
        if scheme == "normal":
            init: Any = inits.Normal(mean=kwargs["mean"], std=kwargs["std"])
        elif scheme == "zeros":
            init = inits.Constant(0.0)
        elif scheme == "constant":
            init = inits.Constant(kwargs["value"])
        elif scheme == "uniform":
            init = inits.Uniform(low=kwargs["a"], high=kwargs["b"])
        elif scheme == "xavier_uniform":
            init = inits.XavierUniform(gain=kwargs["gain"])
        else:
            known = ("normal", "zeros", "constant", "uniform", "xavier_uniform")
            raise ValueError(f"Expected an initializer of {sorted(known)} but got scheme={scheme!r}")
        with _inside_paddle():
            init(self._parameter(parameter))

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any], None] = getattr(self.blocks, name)
        return fn

    # --- mutable-parameters, apply, module-repr ------------------------------------------------------
    def assign(self, parameter: Any, value: np.ndarray) -> None:
        shown = _suite_layout(np.asarray(value)) if isinstance(parameter, LinearWeight) else value
        self._write(self._parameter(parameter), shown)

    def apply(self, module: Any, fn: Callable[[Any], None]) -> None:
        module.apply(fn)

    def describe(self, module: Any) -> str:
        return str(module)

    # --- files ------------------------------------------------------------------------------------------
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
