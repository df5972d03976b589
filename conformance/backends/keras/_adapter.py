"""The Keras 3 adapter (Keras on torch): it translates, because Keras names the chapter's concepts its own way.

How each chapter concept is read from Keras (the README's "Write your own
backend" explains the protocol itself):

- Parameters are trainable ``keras.Variable`` objects; ``assign`` writes one
  in place and the Variable stays the same object. The handles the suite sees
  are :class:`ParamView` objects, one per (layer, attribute): a view reads
  ``layer.<attribute>`` on every use, so the handle of a Dense's weight exists
  before the layer is built, and reading it then raises Keras' own
  ``AttributeError`` (an unbuilt Dense has no ``kernel``), which is what a
  lazy layer's unreadable weight is.
- ``keras.layers.Dense`` stores ``kernel`` (in, out); the suite sees it as
  ``weight`` (out, in), transposed on every read and write.
- Names are dotted registration paths computed by the adapter: a
  ``keras.Sequential`` names its layers by position (``model.layers[i]``), a
  Layer subclass by the attributes it assigned, in order. Keras' own
  ``variable.path`` (``sequential/dense_3/kernel``) uses unique layer names
  given at creation, not positions, so it cannot be the chapter's
  ``0.weight``. A shared layer is one object: the state dict lists its
  variables under every path, ``named_parameters`` once.
- Non-trainable weights (``add_weight(trainable=False)``) are the buffers.
- Gradients: Keras on torch documents ``loss.backward()`` and reading
  ``variable.value.grad`` (its guide to a custom ``train_step`` with
  PyTorch); ``gradients`` uses ``torch.autograd.grad``, which leaves no
  ``.grad`` behind. Keras has no ``Module.apply(fn)``.
- Loading a state dict writes each value with ``variable.assign`` (Keras'
  shape check); the keys are checked by the adapter, because Keras'
  ``set_weights`` takes a positional list and has no keys to report.
- Files: Keras saves models (``.weights.h5``, ``.keras``), not bare tensors or
  dicts of them. ``save``/``load`` write an HDF5 file with h5py, the library
  and container format of Keras' ``.weights.h5`` (dicts in order, lists, every
  dtype bit for bit; bfloat16 as its 16-bit pattern). These clauses check
  that file format, computed by the adapter, not a Keras API;
  ``docs/keras.md`` checks Keras' own files with standalone snippets.
- Devices are torch's (``cpu``, ``cuda:i``); tensors are made under
  ``keras.device(d)``. Keras has no device objects to compare and no device
  count of its own, so ``device-names`` is not declared. Keras has no
  ``model.to(device)``: a Keras layer on torch is a ``torch.nn.Module``, and
  ``module_to`` uses its ``.to()``, which moves each Variable's Parameter in
  place.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import torch

from conformance import arch as A
from conformance._protocol import Gradients, LoadRejected, LoadResult
from conformance.backends._children import ChildrenByPosition
from conformance.backends.keras import blocks

if keras.backend.backend() != "torch":
    raise ImportError(
        f"Expected Keras on its torch backend but got KERAS_BACKEND={keras.backend.backend()!r}; "
        "unset KERAS_BACKEND (or set it to 'torch') before keras is imported"
    )

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


@contextlib.contextmanager
def _inside_keras() -> Iterator[None]:
    """An AssertionError raised inside Keras is a crash of the framework, not a clause violation."""
    try:
        yield
    except AssertionError as exc:
        raise RuntimeError(f"Keras raised AssertionError: {exc}") from exc


class ParamView:
    """The suite's handle on ``owner.<attribute>``; ``transposed`` for a Dense kernel shown as (out, in) ``weight``."""

    __slots__ = ("__weakref__", "attribute", "owner", "transposed")

    def __init__(self, owner: keras.layers.Layer, attribute: str, transposed: bool) -> None:
        self.owner, self.attribute, self.transposed = owner, attribute, transposed

    @property
    def variable(self) -> keras.Variable:
        variable: keras.Variable = getattr(self.owner, self.attribute)  # AttributeError while unbuilt
        return variable

    def array(self) -> torch.Tensor:
        value: torch.Tensor = self.variable.value
        return value.T if self.transposed else value

    def __repr__(self) -> str:
        return f"ParamView({type(self.owner).__name__}.{self.attribute})"


def _attributes(layer: Any) -> dict[str, Any]:
    """A layer's attributes in assignment order: on torch, Keras keeps sublayers in torch's ``_modules``."""
    found = dict(vars(layer))
    found.update(getattr(layer, "_modules", None) or {})
    return found


class KerasBackend(ChildrenByPosition):
    """Keras 3 on its torch backend, checked against the spec."""

    name = "keras"
    capabilities = frozenset(
        {
            "mutable-parameters",
            "grad-attribute",
            "custom-sequential",
            "buffers",
            "module-repr",
            "lazy-init",
            "file-io",
            "container-keys",
            "accelerator",
            "multi-device",
        }
    )
    #: float64 layers exist but do not compute in float64: Keras' type promotion turns every 64-bit
    #: result type into 32 bits (``keras.backend.result_type("float64", "float64") == "float32"``,
    #: "aligned with JAX's default"), so ``ops.matmul`` of two float64 tensors is float32. Only float32
    #: is declared; docs/keras.md shows the snippet.
    float_dtypes = ("float32",)
    dtypes = tuple(_DTYPES)
    #: The host device, as Keras on torch names it.
    host_device = "cpu"
    #: Keras' known departures from the spec (see the file): xfail while they fail.
    known_failures = Path(__file__).with_name("known_failures.toml")
    blocks: Any = blocks
    build_tree = staticmethod(A.build_tree)  # an attribute, so that a variant (a mutant) can swap it

    def __init__(self) -> None:
        self._seeds = keras.random.SeedGenerator(0)
        self._views: weakref.WeakKeyDictionary[Any, dict[str, ParamView]] = weakref.WeakKeyDictionary()

    def version(self) -> str:
        return str(keras.__version__)

    def environment(self) -> dict[str, str]:
        return {
            "keras_backend": keras.backend.backend(),
            "torch": str(torch.__version__),
            "cuda_devices": str(torch.cuda.device_count()),
            "floatx": keras.config.floatx(),
        }

    # --- tensors and devices ---------------------------------------------------------
    def _array(self, obj: Any) -> torch.Tensor:
        return obj.array() if isinstance(obj, ParamView) else obj  # type: ignore[no-any-return]

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> torch.Tensor:
        host = np.asarray(array)
        scope = contextlib.nullcontext() if device is None else keras.device(device)
        with scope:
            t: torch.Tensor = keras.ops.convert_to_tensor(host, dtype=dtype)
        if device is not None and str(t.device) != str(torch.device(device)):
            t = t.to(device)  # keras.device("cuda") places on the current CUDA device; be exact
        return t

    def to_numpy(self, tensor: Any) -> np.ndarray:
        t = self._array(tensor).detach().cpu()
        result: np.ndarray = (t.float() if t.dtype is torch.bfloat16 else t).numpy().copy()
        return result

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        t = self._array(tensor).detach().cpu().contiguous()
        raw = t.view(torch.int16) if t.dtype is torch.bfloat16 else t
        return _NAMES[t.dtype], tuple(t.shape), raw.numpy().tobytes()

    def strided_view(self, tensor: Any) -> torch.Tensor:
        view: torch.Tensor = keras.ops.transpose(self._array(tensor))
        return view

    def device_of(self, tensor: Any) -> str:
        return str(self._array(tensor).device)

    def accelerators(self) -> list[str]:
        return [f"cuda:{i}" for i in range(blocks.num_gpus())]

    def device_count(self) -> int:
        return blocks.num_gpus()

    def try_gpu(self, i: int = 0) -> str:
        return blocks.try_gpu(i)

    def try_all_gpus(self) -> list[str]:
        return blocks.try_all_gpus()

    def to_device(self, tensor: Any, device: str) -> torch.Tensor:
        return self._array(tensor).to(device)

    def add(self, a: Any, b: Any) -> torch.Tensor:
        result: torch.Tensor = keras.ops.add(self._array(a), self._array(b))
        return result

    def module_to(self, module: Any, device: str) -> Any:
        module.to(device)  # torch.nn.Module.to: each Variable's Parameter moved in place
        return module

    # --- building ----------------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Any:
        b = self.blocks
        scope = contextlib.nullcontext() if device is None else keras.device(device)

        def make(node: A.Node, child: Callable[[A.Node], Any]) -> Any:
            if isinstance(node, A.Linear):
                layer = b.dense(node.in_features, node.out_features, node.bias, dtype=dtype)
                if node.values is not None:
                    layer.kernel.assign(node.values.weight.T)
                    if node.values.bias is not None:
                        layer.bias.assign(node.values.bias)
                return layer
            if isinstance(node, A.MyLinear):
                layer = b.MyLinear(node.in_units, node.units, dtype=dtype)
                if node.values is not None:
                    layer.weight.assign(node.values.weight)
                    if node.values.bias is not None:
                        layer.bias.assign(node.values.bias)
                return layer
            if isinstance(node, A.LazyLinear):
                return keras.layers.Dense(node.out_features, use_bias=node.bias, dtype=dtype)
            if isinstance(node, A.ReLU):
                return keras.layers.ReLU(dtype=dtype)
            if isinstance(node, A.Centered):
                return b.CenteredLayer(dtype=dtype)
            if isinstance(node, A.Block):
                return b.Block([(name, child(c)) for name, c in node.children], dtype=dtype)
            if isinstance(node, A.Sequential):
                kids = [child(c) for c in node.children]
                if node.custom:
                    return b.MySequential(*kids, dtype=dtype)
                if node.names is None and kids:
                    return keras.Sequential(kids)
                # keras.Sequential([]) refuses to build ("it has no layers"); the adapter's add_module
                # container with no children is the identity an empty Sequential is.
                net = b.NamedSequential(dtype=dtype)
                for name, kid in zip(node.names or (), kids, strict=True):
                    net.add_module(name, kid)
                return net
            raise TypeError(f"Expected an architecture node but got {node!r}")

        with scope, _inside_keras():
            return self.build_tree(node, make)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        b = self.blocks
        factories: dict[str, Callable[[], Any]] = {
            "MLP": b.MLP,
            "FixedHiddenMLP": b.FixedHiddenMLP,
            "MySequential": lambda: b.MySequential(b.dense(20, 256), keras.layers.ReLU(), b.dense(256, 10)),
            "block1": b.block1,
            "block2": b.block2,
            "rgnet": b.rgnet,
            "tied_net": b.tied_net,
            "CenteredLayer": b.CenteredLayer,
            "MyLinear": lambda: b.MyLinear(5, 3),
        }
        scope = contextlib.nullcontext() if device is None else keras.device(device)
        with scope, _inside_keras():
            return factories[name]()

    def forward(self, module: Any, x: Any) -> torch.Tensor:
        with _inside_keras():
            out: torch.Tensor = module(self._array(x))
        return out

    # --- the layer graph, in registration order -------------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        if isinstance(module, keras.Sequential):
            return [(str(i), layer) for i, layer in enumerate(module.layers)]
        if isinstance(module, blocks.MySequential):
            return [(name, getattr(module, name)) for name in module._order]
        if not isinstance(module, keras.layers.Layer):
            return []
        return [
            (key, value)
            for key, value in _attributes(module).items()
            if isinstance(value, keras.layers.Layer) and not key.startswith("_")
        ]

    def _view(self, owner: Any, attribute: str, transposed: bool) -> ParamView:
        views = self._views.setdefault(owner, {})
        if attribute not in views:
            views[attribute] = ParamView(owner, attribute, transposed)
        return views[attribute]

    def _own(self, module: Any) -> list[tuple[str, ParamView]]:
        """The variables a layer holds itself, by leaf name (a Dense: ``weight``, ``bias``; built or not)."""
        if isinstance(module, keras.layers.Dense):
            own = [("weight", self._view(module, "kernel", True))]
            return own + ([("bias", self._view(module, "bias", False))] if module.use_bias else [])
        if not isinstance(module, keras.layers.Layer) or isinstance(module, keras.Sequential):
            return []
        return [(k, self._view(module, k, False)) for k, v in vars(module).items() if isinstance(v, keras.Variable)]

    def _walk(self, module: Any, prefix: str = "") -> Iterator[tuple[str, ParamView]]:
        """(path, view) for every variable under every path."""
        for leaf, view in self._own(module):
            yield (f"{prefix}.{leaf}" if prefix else leaf), view
        for name, child in self.named_children(module):
            yield from self._walk(child, f"{prefix}.{name}" if prefix else name)

    @staticmethod
    def _trainable(view: ParamView) -> bool:
        try:
            return bool(view.variable.trainable)
        except AttributeError:  # an unbuilt Dense: its weight and bias will be trainable
            return True

    def named_parameters(self, module: Any) -> list[tuple[str, ParamView]]:
        seen: set[int] = set()
        params = []
        for path, view in self._walk(module):
            if self._trainable(view) and id(view) not in seen:
                seen.add(id(view))
                params.append((path, view))
        return params

    def state_dict(self, module: Any) -> list[tuple[str, torch.Tensor]]:
        return [(path, view.array()) for path, view in self._walk(module)]

    def named_buffers(self, module: Any) -> list[tuple[str, torch.Tensor]]:
        seen: set[int] = set()
        buffers = []
        for path, view in self._walk(module):
            if not self._trainable(view) and id(view) not in seen:
                seen.add(id(view))
                buffers.append((path, view.array()))
        return buffers

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        targets = dict(self._walk(module))
        missing = [key for key in targets if key not in state]
        unexpected = [key for key in state if key not in targets]
        if strict and (missing or unexpected):
            raise LoadRejected(f"Error(s) loading state: missing keys {missing}, unexpected keys {unexpected}")
        problems = []
        for key, view in targets.items():
            if key not in state:
                continue
            try:
                want = tuple(view.array().shape)
            except AttributeError as exc:  # Keras: a layer never called has no variables to load into
                problems.append(f"{key}: the layer holding it was never built ({exc})")
                continue
            got = tuple(np.shape(self._array(state[key])))
            if got != want:
                problems.append(f"size mismatch for {key}: got shape {got}, the model has {want}")
        if problems:
            raise LoadRejected("; ".join(problems))
        for key, view in targets.items():
            if key in state:
                self._write(view, self._array(state[key]))
        return LoadResult(missing, unexpected)

    def _write(self, view: ParamView, value: Any) -> None:
        variable = view.variable
        stored = self._array(value) if not isinstance(value, np.ndarray) else torch.as_tensor(value)
        stored = stored.T if view.transposed else stored
        with _inside_keras():
            variable.assign(stored.detach().to(variable.value.device, _DTYPES[variable.dtype]))

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, ParamView) and self._trainable(obj)

    # --- gradients -----------------------------------------------------------------------
    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        x = self._array(x).detach().clone().requires_grad_(True)
        named = self.named_parameters(module)
        with _inside_keras():
            out = module(x)
            loss = (out * torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)).sum()
            values = [view.variable.value for _, view in named]
            grads = torch.autograd.grad(loss, [x, *values], allow_unused=True)
        params: dict[str, np.ndarray] = {}
        devices: dict[str, str] = {}
        for (name, view), grad in zip(named, grads[1:], strict=True):
            if grad is not None:
                params[name] = self.to_numpy(grad.T if view.transposed else grad)
                devices[name] = str(grad.device)
        grad_x = grads[0]
        input_grad = np.zeros(tuple(x.shape), dtype=np.float64) if grad_x is None else self.to_numpy(grad_x)
        return Gradients(input_grad, params, devices)

    def backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        with _inside_keras():
            out = module(self._array(x))
            (out * torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)).sum().backward()

    def grad(self, parameter: ParamView) -> np.ndarray | None:
        grad = parameter.variable.value.grad
        if grad is None:
            return None
        return self.to_numpy(grad.T if parameter.transposed else grad)

    # --- initialization ------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed)  # Python, NumPy, torch and Keras' own global seed
        self._seeds = keras.random.SeedGenerator(seed)

    def init_(self, parameter: ParamView, scheme: str, **kwargs: float) -> None:
        inits = keras.initializers
        seed = self._seeds
        if scheme == "normal":
            init: Any = inits.RandomNormal(mean=kwargs["mean"], stddev=kwargs["std"], seed=seed)
        elif scheme == "zeros":
            init = inits.Zeros()
        elif scheme == "constant":
            init = inits.Constant(kwargs["value"])
        elif scheme == "uniform":
            init = inits.RandomUniform(minval=kwargs["a"], maxval=kwargs["b"], seed=seed)
        elif scheme == "xavier_uniform":
            # GlorotUniform has no gain: it is VarianceScaling(1, fan_avg, uniform); gain g scales the variance by g².
            init = inits.VarianceScaling(kwargs["gain"] ** 2, mode="fan_avg", distribution="uniform", seed=seed)
        else:
            known = ("normal", "zeros", "constant", "uniform", "xavier_uniform")
            raise ValueError(f"Expected an initializer of {sorted(known)} but got scheme={scheme!r}")
        variable = parameter.variable
        with _inside_keras():
            variable.assign(init(variable.shape, variable.dtype))

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any], None] = getattr(self.blocks, name)
        return fn

    # --- mutable-parameters, module-repr ------------------------------------------------------
    def assign(self, parameter: ParamView, value: np.ndarray) -> None:
        self._write(parameter, np.asarray(value))

    def describe(self, module: Any) -> str:
        if isinstance(module, keras.Model):  # what Keras prints for a model: its summary, nesting expanded
            lines: list[str] = []
            with _inside_keras():
                module.summary(expand_nested=True, print_fn=lambda line, **_: lines.append(line))
            return "\n".join(lines)
        return str(module)

    # --- files -----------------------------------------------------------------------------
    def save(self, obj: Any, path: Path) -> None:
        with h5py.File(path, "w", track_order=True) as f:
            self._write_node(f, "root", obj)

    def _write_node(self, group: h5py.Group, name: str, obj: Any) -> None:
        if isinstance(obj, dict):
            sub = group.create_group(name, track_order=True)
            sub.attrs["kind"] = "dict"
            odd = [k for k in obj if type(k) not in (str, int)]
            if odd:  # JSON keeps str and int keys apart; any other key it would turn into a string
                raise TypeError(f"Expected str or int dict keys in a saved container but got {odd[0]!r}")
            sub.attrs["keys"] = json.dumps(list(obj))
            for i, value in enumerate(obj.values()):
                self._write_node(sub, str(i), value)
        elif isinstance(obj, (list, tuple)):
            sub = group.create_group(name, track_order=True)
            sub.attrs["kind"] = type(obj).__name__ if type(obj) in (list, tuple) else "list"
            sub.attrs["length"] = len(obj)
            for i, value in enumerate(obj):
                self._write_node(sub, str(i), value)
        else:
            dtype, shape, raw = self.bits(obj)
            stored = np.frombuffer(raw, dtype=np.uint16 if dtype == "bfloat16" else np.dtype(dtype)).reshape(shape)
            dataset = group.create_dataset(name, data=stored, shape=shape)
            dataset.attrs["kind"] = "tensor"
            dataset.attrs["dtype"] = dtype

    def load(self, path: Path, map_location: str | None = None) -> Any:
        with h5py.File(path, "r") as f:
            return self._read_node(f["root"], map_location)

    def _read_node(self, node: Any, device: str | None) -> Any:
        kind = node.attrs.get("kind")
        if kind == "dict":
            keys = json.loads(node.attrs["keys"])
            return {key: self._read_node(node[str(i)], device) for i, key in enumerate(keys)}
        if kind in ("list", "tuple"):
            items = [self._read_node(node[str(i)], device) for i in range(int(node.attrs["length"]))]
            return items if kind == "list" else tuple(items)
        if kind == "tensor":
            dtype = str(node.attrs["dtype"])
            if dtype not in _DTYPES:
                raise ValueError(f"Expected a dtype of {sorted(_DTYPES)} in the file but got {dtype!r}")
            host = np.asarray(node[()])
            t = torch.from_numpy(host.copy())
            t = t.view(torch.bfloat16) if dtype == "bfloat16" else t
            return t if device is None else t.to(device)
        raise ValueError(f"Expected a tensor, list or dict in the file but got kind={kind!r} at {node.name}")
