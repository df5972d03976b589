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
- ``keras.layers.Dense`` stores ``kernel`` (in, out) and computes ``X @ kernel``,
  as the chapter's MyLinear does: the adapter declares that layout
  (``weight_layouts``) and shows the kernel as Keras holds it, under the
  chapter's leaf name ``weight``.
- Names are dotted registration paths computed by the adapter: a
  ``keras.Sequential`` or a functional ``keras.Model`` names its layers by
  position (``model.layers[i]``), a Layer subclass the sublayers Keras tracks
  (``layer._layers``, in that order) by the attribute that holds each, a list's
  items by index (``items.0``), as PyTorch's ModuleList does. Keras' own
  ``variable.path`` (``sequential/dense_3/kernel``) uses unique layer names
  given at creation, not positions, so it cannot be the chapter's
  ``0.weight``. A shared layer is one object: the state dict lists its
  variables under every path, ``named_parameters`` once.
- Non-trainable weights (``add_weight(trainable=False)``) are the buffers.
- Gradients: Keras on torch documents ``loss.backward()`` and reading
  ``variable.value.grad`` (its guide to a custom ``train_step`` with
  PyTorch); ``gradients`` uses ``torch.autograd.grad``, which leaves no
  ``.grad`` behind. Keras has no ``Module.apply(fn)``.
- Loading a state dict writes each value of a key that names one of the
  model's variables with ``variable.assign`` (Keras' own write: its shape
  check, its cast). Keras has no keyed load: ``set_weights`` takes a
  positional list and ``load_weights`` reads its own file by its own object
  tree, so nothing in Keras refuses or reports a missing or unexpected key;
  the adapter adds no such check (the clauses are known failures, with
  snippets in ``docs/keras.md``).
- Parameter-level ties: ``my_linear.weight = dense.kernel`` gives a custom
  layer a Dense's Variable; Keras refuses the other direction (a built
  Dense takes no new state), which the manifest lists.
- Files: Keras saves models, never a tensor or a dict of tensors, so
  ``file-io`` is not declared (docs/keras.md). Its checkpoint of a module is
  ``module-checkpoint``: ``keras.saving.save_weights``/``load_weights`` with a
  ``.weights.h5`` file (what ``Model.save_weights``/``load_weights`` call; a
  plain Layer has no such methods, the functions take any Layer), nothing
  added: Keras picks the reader by the file's ending, so the adapter declares
  ``checkpoint_suffix = ".weights.h5"`` and the suite names every checkpoint,
  damaged or malicious ones included, with it.
- Devices are torch's (``cpu``, ``cuda:i``); tensors are made under
  ``keras.device(d)``. Keras has no device objects to compare and no device
  count of its own, so ``device-names`` is not declared. Keras has no
  ``model.to(device)``: a Keras layer on torch is a ``torch.nn.Module``, and
  ``module_to`` uses its ``.to()``, which moves each Variable's Parameter in
  place.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import keras
import numpy as np
import torch

from conformance import arch as A
from conformance._protocol import Gradients, LoadResult, weight_layouts
from conformance.backends import _kit as kit
from conformance.backends._children import ChildrenByPosition
from conformance.backends.keras import blocks
from conformance.backends.torch._adapter import _DTYPES, _NAMES  # Keras on torch: torch's dtypes

if keras.backend.backend() != "torch":
    raise ImportError(
        f"Expected Keras on its torch backend but got KERAS_BACKEND={keras.backend.backend()!r}; "
        "unset KERAS_BACKEND (or set it to 'torch') before keras is imported"
    )


#: An AssertionError raised inside Keras is a crash of the framework, not a clause violation.
_inside_keras = functools.partial(kit.inside, "Keras")


class ParamView:
    """The suite's handle on ``owner.<attribute>``, read on every use (an unbuilt Dense has no kernel yet)."""

    __slots__ = ("__weakref__", "attribute", "owner")

    def __init__(self, owner: keras.layers.Layer, attribute: str) -> None:
        self.owner, self.attribute = owner, attribute

    @property
    def variable(self) -> keras.Variable:
        variable: keras.Variable = getattr(self.owner, self.attribute)  # AttributeError while unbuilt
        return variable

    def array(self) -> torch.Tensor:
        value: torch.Tensor = self.variable.value
        return value

    def __repr__(self) -> str:
        return f"ParamView({type(self.owner).__name__}.{self.attribute})"


#: Keras' attribute for a chapter leaf, by layer type: a ``Dense`` calls its weight ``kernel``.
_ATTRIBUTES: dict[type, dict[str, str]] = {keras.layers.Dense: {"weight": "kernel"}}


def _attribute(layer: Any, leaf: str) -> str:
    return _ATTRIBUTES.get(type(layer), {}).get(leaf, leaf)


def _tie(owner: Any, user: Any) -> None:
    """``user.weight = owner.weight`` in Keras: the user's attribute set to the owner's Variable itself."""
    setattr(user, _attribute(user, "weight"), getattr(owner, _attribute(owner, "weight")))


def _attributes(layer: Any) -> dict[str, Any]:
    """A layer's attributes: on torch, Keras keeps sublayers in torch's ``_modules``, the rest in ``vars``."""
    found = dict(vars(layer))
    found.update(getattr(layer, "_modules", None) or {})
    return found


def _held(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Each layer in an attribute's value, by its path: list and tuple items by index, dict items by key.

    These are the containers Keras' Tracker follows into (``TrackedList``, ``TrackedDict``, tuples).
    """
    if isinstance(value, keras.layers.Layer):
        yield path, value
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _held(f"{path}.{index}", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _held(f"{path}.{key}", item)


def _sublayers(layer: Any) -> list[tuple[str, Any]]:
    """The sublayers Keras tracks for ``layer`` (``layer._layers``, what ``layer.weights`` reads), each under every
    public attribute path that holds it, in Keras' tracking order: torch keeps layer attributes (``_modules``)
    apart from list attributes (``vars``), so only Keras' record keeps the order they were assigned in."""
    order = {id(sublayer): index for index, sublayer in enumerate(layer._layers)}
    held = [pair for key, value in _attributes(layer).items() if not key.startswith("_") for pair in _held(key, value)]
    return sorted((pair for pair in held if id(pair[1]) in order), key=lambda pair: order[id(pair[1])])


def _by_position(model: Any) -> bool:
    """A ``keras.Sequential`` or a functional ``keras.Model``: its layers have no attribute names, only positions."""
    return isinstance(model, keras.Sequential) or (isinstance(model, keras.Model) and isinstance(model, keras.Function))


class KerasBackend(ChildrenByPosition, kit.TreeBuilder):
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
            "accelerator",
            "multi-device",
            "param-ties",
            "module-checkpoint",
        }
    )
    #: ``save_weights`` writes only a name ending in ``.weights.h5``; ``load_weights`` reads it as HDF5 by that ending.
    checkpoint_suffix = ".weights.h5"
    #: A Dense stores its kernel (in, out), as the chapter's MyLinear stores its weight.
    weight_layouts = MappingProxyType(dict.fromkeys(A.LAYER_KINDS, A.IN_OUT))
    #: Dense refuses a vector: its InputSpec has min_ndim=2 (built or not), so inputs are of rank 2 to 4.
    min_input_rank = 2
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
    tie = staticmethod(_tie)  # the parameter-level tie (kit.TreeBuilder)

    def __init__(self) -> None:
        self._seeds = keras.random.SeedGenerator(0)
        self._views: weakref.WeakKeyDictionary[Any, dict[str, ParamView]] = weakref.WeakKeyDictionary()
        # One handle per Variable: a Variable two layers hold (a tie) is one parameter, one handle.
        self._by_variable: weakref.WeakValueDictionary[int, ParamView] = weakref.WeakValueDictionary()
        inits = keras.initializers
        initializers: dict[str, Callable[..., Any]] = {
            "normal": lambda mean, std: inits.RandomNormal(mean=mean, stddev=std, seed=self._seeds),
            "zeros": lambda: inits.Zeros(),
            "constant": lambda value: inits.Constant(value),
            "uniform": lambda a, b: inits.RandomUniform(minval=a, maxval=b, seed=self._seeds),
            # GlorotUniform has no gain: it is VarianceScaling(1, fan_avg, uniform); gain g scales the variance by g².
            "xavier_uniform": lambda gain: inits.VarianceScaling(
                gain**2, mode="fan_avg", distribution="uniform", seed=self._seeds
            ),
        }
        self._initializers = kit.initializer_table(initializers)

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

    def strided_view(self, tensor: Any, layout: str) -> torch.Tensor:
        array = self._array(tensor)
        if layout == "transposed":
            view: torch.Tensor = keras.ops.transpose(array)
            return view
        # Keras has no strided slice op; its tensors (the backend's) are sliced with Python's indexing
        return array[::2] if layout == "step" else array[1:]

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
        layouts = weight_layouts(self)

        def given(layer: Any, node: A.Linear | A.MyLinear) -> Any:
            values = kit.stored_values(node, layouts)
            if values is not None:
                getattr(layer, _attribute(layer, "weight")).assign(values[0])
                if values[1] is not None:
                    layer.bias.assign(values[1])
            return layer

        # keras.Sequential([]) refuses to build ("it has no layers"); the add_module container with no
        # children is the identity an empty Sequential is.
        make = kit.maker(
            "Keras",
            linear=lambda n: given(b.dense(n.in_features, n.out_features, n.bias, dtype=dtype), n),
            my_linear=lambda n: given(b.MyLinear(n.in_units, n.units, dtype=dtype), n),
            lazy_linear=lambda n: keras.layers.Dense(n.out_features, use_bias=n.bias, dtype=dtype),
            relu=lambda: keras.layers.ReLU(dtype=dtype),
            centered=lambda: b.CenteredLayer(dtype=dtype),
            # the chapter's classes looked up when a node of their kind is built (kit.chapter_table says why)
            block=lambda children: b.Block(children, dtype=dtype),
            sequential=lambda *kids: keras.Sequential(list(kids)) if kids else b.NamedSequential(dtype=dtype),
            my_sequential=lambda *kids: b.MySequential(*kids, dtype=dtype),
            named=lambda: b.NamedSequential(dtype=dtype),
        )

        with scope, _inside_keras():
            return self.build_tree(node, make)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        b = self.blocks
        table = kit.chapter_table(b, lambda: b.MySequential(b.dense(20, 256), keras.layers.ReLU(), b.dense(256, 10)))
        scope = contextlib.nullcontext() if device is None else keras.device(device)
        with scope, _inside_keras():
            return kit.chapter_block(table, name)

    def forward(self, module: Any, x: Any) -> torch.Tensor:
        with _inside_keras():
            out: torch.Tensor = module(self._array(x))
        return out

    # --- the layer graph, in registration order -------------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        # A Keras user reaches these layers as model.layers[i] (get_layer(index=i), the rows of summary()):
        # a functional model's InputLayer is its layer 0 (it holds no variables), a Sequential's is hidden.
        if _by_position(module):
            return [(str(i), layer) for i, layer in enumerate(module.layers)]
        if isinstance(module, blocks.MySequential):
            return [(name, getattr(module, name)) for name in module._order]
        if not isinstance(module, keras.layers.Layer):
            return []
        return _sublayers(module)

    def _view(self, owner: Any, attribute: str) -> ParamView:
        """The one handle on ``owner.<attribute>``: the handle of its Variable, when another layer holds it too."""
        variable = getattr(owner, attribute, None)
        known = self._by_variable.get(id(variable)) if variable is not None else None
        if known is not None and getattr(known.owner, known.attribute, None) is variable:
            return known
        views = self._views.setdefault(owner, {})
        if attribute not in views:
            views[attribute] = ParamView(owner, attribute)
        if variable is not None:
            self._by_variable[id(variable)] = views[attribute]
        return views[attribute]

    def _own(self, module: Any) -> list[tuple[str, ParamView]]:
        """The variables a layer holds itself, by leaf name (a Dense: ``weight``, ``bias``; built or not)."""
        if isinstance(module, keras.layers.Dense):
            own = [("weight", self._view(module, "kernel"))]
            return own + ([("bias", self._view(module, "bias"))] if module.use_bias else [])
        if not isinstance(module, keras.layers.Layer) or isinstance(module, keras.Sequential):
            return []
        return [(k, self._view(module, k)) for k, v in vars(module).items() if isinstance(v, keras.Variable)]

    def _walk(self, module: Any) -> list[tuple[str, ParamView]]:
        """(path, handle) for every variable under every registration path."""
        return [(path, view) for path, _, _, view in kit.walk(module, self._own, self.named_children)]

    @staticmethod
    def _trainable(view: ParamView) -> bool:
        try:
            return bool(view.variable.trainable)
        except AttributeError:  # an unbuilt Dense: its weight and bias will be trainable
            return True

    def named_parameters(self, module: Any) -> list[tuple[str, ParamView]]:
        return kit.first_paths([(path, view) for path, view in self._walk(module) if self._trainable(view)])

    def state_dict(self, module: Any) -> list[tuple[str, torch.Tensor]]:
        return [(path, view.array()) for path, view in self._walk(module)]

    def named_buffers(self, module: Any) -> list[tuple[str, torch.Tensor]]:
        kept = kit.first_paths([(path, view) for path, view in self._walk(module) if not self._trainable(view)])
        return [(path, view.array()) for path, view in kept]

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        # Keras has no keyed load (set_weights is positional; load_weights reads its own file): each key
        # naming a variable of the model is written with Keras' variable.assign, and nothing else is
        # checked, refused or reported, strict or not. What assign refuses (a shape) is Keras' refusal.
        targets = dict(self._walk(module))
        for key, value in state.items():
            if key in targets:
                with kit.refusals(ValueError, AttributeError, key=key), _inside_keras():
                    targets[key].variable.assign(self._array(value))
        return LoadResult([], [])  # Keras reports nothing

    # --- module-checkpoint: Keras' own weights file ------------------------------------------
    def save_checkpoint(self, module: Any, path: Path) -> None:
        with _inside_keras():
            keras.saving.save_weights(module, path)  # Model.save_weights(path) is this call

    def load_checkpoint(self, module: Any, path: Path) -> None:
        with _inside_keras():
            keras.saving.load_weights(module, path)  # Model.load_weights(path) is this call

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
        return kit.gradients_of([n for n, _ in named], grads, tuple(x.shape), self.to_numpy, lambda g: str(g.device))

    def backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        with _inside_keras():
            out = module(self._array(x))
            (out * torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)).sum().backward()

    def grad(self, parameter: ParamView) -> np.ndarray | None:
        grad = parameter.variable.value.grad
        if grad is None:
            return None
        return self.to_numpy(grad)

    # --- initialization ------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        keras.utils.set_random_seed(seed)  # Python, NumPy, torch and Keras' own global seed
        self._seeds = keras.random.SeedGenerator(seed)

    def init_(self, parameter: ParamView, scheme: str, **kwargs: float) -> None:
        init = kit.initializer(self._initializers, scheme, kwargs)
        variable = parameter.variable
        with _inside_keras():
            variable.assign(init(variable.shape, variable.dtype))

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any], None] = getattr(self.blocks, name)
        return fn

    # --- mutable-parameters, module-repr ------------------------------------------------------
    def assign(self, parameter: ParamView, value: np.ndarray) -> None:
        with _inside_keras():
            parameter.variable.assign(np.asarray(value))

    def describe(self, module: Any) -> str:
        if isinstance(module, keras.Model):  # what Keras prints for a model: its summary, nesting expanded
            lines: list[str] = []
            with _inside_keras():
                module.summary(expand_nested=True, print_fn=lambda line, **_: lines.append(line))
            return "\n".join(lines)
        return str(module)
