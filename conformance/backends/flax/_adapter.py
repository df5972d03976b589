"""The Flax NNX adapter: it carries more than torch's, because the protocol speaks PyTorch's vocabulary.

How each chapter concept is read from Flax (the README's "Write your own
backend" explains the protocol itself):

- Parameters are ``nnx.Param`` Variables, and the handles the suite gets are
  those Variables. A Variable is a mutable reference to an immutable array:
  writing a parameter (``variable[...] = value``) keeps the object, which is
  what the chapter's ``net[2].weight is net[4].weight`` asks.
- ``nnx.Linear`` stores ``kernel`` (in, out) and computes ``X @ kernel``, like
  the chapter's MyLinear: the adapter declares that layout (``weight_layouts``)
  and shows the kernel as Flax holds it, under the chapter's leaf name
  ``weight``; nothing is transposed.
- Names are dotted attribute paths; ``nnx.Sequential``'s ``layers.N`` is
  shown as ``N``. The walk goes where ``nnx.state`` goes (Flax's own flatten
  of each graph node): into Modules, and into lists, tuples and dicts kept as
  data (``nnx.data([...])``), whose entries are named by index or key
  (``items.0.weight``), as PyTorch names a ModuleList's. Order is the order
  the block assigned its attributes (which the module object keeps);
  ``nnx.state`` prints the same mapping sorted by key. A shared layer is one
  Variable, reachable under each path it sits at: the state dict lists it
  under every path, and ``named_parameters`` once.
- A parameter-level tie is Flax's attribute assignment (``my.weight =
  lin.kernel``): both modules hold the one ``nnx.Param`` (``param-ties``).
- Loading is ``nnx.update(model, state)``, the last step of every Flax
  restore: no strict mode, no key or shape check, no report, and the adapter
  adds none (the departures are in the manifest, snippets in docs/flax.md).
- Gradients come from ``nnx.grad`` (returned, never stored on the
  parameter): there is no ``.grad`` attribute, so ``grad-attribute`` is not
  declared. Flax has no ``Module.apply(fn)`` and no lazy layers either.
- Devices: ``cpu`` is ``jax.devices("cpu")[0]``; the accelerators are JAX's
  GPUs/TPUs or, on a CPU-only machine, the extra host devices (see
  :func:`blocks.accelerators`), named as JAX prints them (``cpu:1``). JAX names
  devices by objects, not strings, so ``device-names`` is not declared.
  Tensors are created with ``jax.device_put(x, device)``, which *commits* them
  to the device: an uncommitted array (``jnp.asarray`` without a device)
  would silently follow whatever it is combined with.
- Files hold Flax's msgpack serialization (``flax.serialization``): arrays,
  lists and dicts, never code; what msgpack refuses (a tuple) it refuses.
- float64 and int64 exist only when JAX's ``jax_enable_x64`` is on; the
  declared dtypes follow that setting.
- JAX compiles every new shape, so the adapter sets ``compiles_per_shape``
  (the run draws sizes from a small per-run palette) and points JAX's
  persistent compilation cache at the run's own directory
  (``conformance._protocol.compile_cache_directory``; every entry cached,
  however quick its compile), which ``-n`` workers and restarted children
  share. Outside a run, or with ``jax_compilation_cache_dir`` already set by
  the user, JAX's own setting stands.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import safetensors.flax
from flax import nnx, serialization
from flax.nnx import graph

from conformance import arch as A
from conformance._protocol import Gradients, LoadResult, compile_cache_directory, weight_layouts
from conformance.backends import _kit as kit
from conformance.backends._children import ChildrenByPosition
from conformance.backends.flax import blocks

Variable = nnx.Variable[Any]


#: Flax's attribute for a chapter leaf, by module type: ``nnx.Linear`` calls its weight ``kernel``.
_ATTRIBUTES: dict[type, dict[str, str]] = {nnx.Linear: {"weight": "kernel"}}


def _leaf_name(module: Any, attribute: str) -> str:
    """The chapter's leaf name for a Flax attribute (``kernel`` of an ``nnx.Linear`` is ``weight``)."""
    renamed = {flax_name: leaf for leaf, flax_name in _ATTRIBUTES.get(type(module), {}).items()}
    return renamed.get(attribute, attribute)


def _attribute(module: Any, leaf: str) -> str:
    """The Flax attribute holding the chapter's leaf ``leaf`` (``weight`` of an ``nnx.Linear`` is ``kernel``)."""
    return _ATTRIBUTES.get(type(module), {}).get(leaf, leaf)


def _entries(node: Any) -> list[tuple[Any, Any]]:
    """(key, value) of each entry ``nnx.state`` flattens ``node`` into, its static attributes left out.

    The entries are Flax's own flatten of the node (``graph.get_node_impl``), as ``nnx.state`` reads
    them; a Module's come in the order it assigned them (its ``vars``), where Flax sorts them.
    """
    impl = graph.get_node_impl(node)
    if impl is None:  # a Variable or a plain value: a leaf of the graph
        return []
    flat, _ = impl.flatten(node)
    entries = [
        (key, value.value if isinstance(value, graph.DataElem) else value)
        for key, value in flat
        if not isinstance(value, graph.StaticElem)
    ]
    if isinstance(node, nnx.Module):
        assigned = {name: i for i, name in enumerate(vars(node))}
        entries.sort(key=lambda entry: assigned[str(entry[0])])  # nnx.List keys are ints, its attributes "0", "1"
    return entries


def _holds_entries(value: Any) -> bool:
    """Whether ``nnx.state`` descends into ``value`` and finds entries there: None and a Pytree's
    bookkeeping (``PytreeState``) are nodes that flatten to nothing, no layer. A Module always holds
    entries (its own bookkeeping among them), so it is not flattened here: the walk flattens it next."""
    if isinstance(value, nnx.Module):
        return True
    impl = graph.get_node_impl(value)
    return impl is not None and len(impl.flatten(value)[0]) > 0


def _tie(owner: Any, user: Any) -> None:
    """``user.weight = owner.weight`` in Flax: the user's attribute is set to the owner's ``nnx.Param`` itself."""
    setattr(user, _attribute(user, "weight"), getattr(owner, _attribute(owner, "weight")))


def _given(values: np.ndarray) -> Callable[..., jax.Array]:
    """An initializer that returns ``values`` (in the requested dtype) whatever key and shape it is given."""

    def init(key: Any, shape: Any, dtype: Any = jnp.float32) -> jax.Array:
        return jnp.asarray(np.asarray(values).astype(dtype))  # converted on the host: nothing to compile

    return init


def _shifted(shift: float, init: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """``shift + init(...)``: Flax's normal and uniform initializers are centred at 0 and start at 0."""

    def shifted(key: Any, shape: Any, dtype: Any = jnp.float32) -> jax.Array:
        return shift + init(key, shape, dtype)

    return shifted


def _use_compile_cache() -> str:
    """Point JAX's persistent compilation cache at the run's directory; say where it is."""
    directory = compile_cache_directory()
    own = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]
    if directory is None or (own and not str(own).startswith(str(directory))):
        return f"JAX's own setting ({own or 'none'})"
    jax.config.update("jax_compilation_cache_dir", str(directory / "jax"))  # type: ignore[no-untyped-call]
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # type: ignore[no-untyped-call]
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # type: ignore[no-untyped-call]
    return f"the run's own: {directory / 'jax'}"


class FlaxBackend(ChildrenByPosition, kit.TreeBuilder, kit.StateDictCheckpoints):
    """Flax NNX on JAX, checked against the spec."""

    name = "flax"
    capabilities = frozenset(
        {
            "mutable-parameters",
            "custom-sequential",
            "buffers",
            "module-repr",
            "file-io",
            "module-checkpoint",
            "accelerator",
            "multi-device",
            "param-ties",
        }
    )
    #: ``nnx.Linear`` stores its kernel (in, out) and computes ``X @ kernel``, as the chapter's MyLinear does.
    weight_layouts = MappingProxyType({"Linear": A.IN_OUT, "MyLinear": A.IN_OUT})
    #: How Flax' own files name the paths: nnx.Sequential keeps its children in ``layers``; nnx.Linear's weight is ``kernel``.
    interop_names = MappingProxyType({"Sequential": "layers.{}", "Linear.weight": "kernel"})
    #: JAX's first host device, under the name PyTorch gives the CPU.
    host_device = "cpu"
    #: JAX compiles per shape: the run draws sizes from a palette (``blockspec run --shapes``).
    compiles_per_shape = True
    #: Flax's known departures from the spec (see the file): xfail while they fail.
    known_failures = Path(__file__).with_name("known_failures.toml")
    blocks: Any = blocks
    linear_class: Any = nnx.Linear
    sequential_class: Any = nnx.Sequential
    tie = staticmethod(_tie)  # the parameter-level tie (kit.TreeBuilder)

    def __init__(self) -> None:
        x64 = bool(jax.config.jax_enable_x64)  # type: ignore[attr-defined]
        self.float_dtypes: tuple[str, ...] = ("float32", "float64") if x64 else ("float32",)
        wide = ("float64", "int64") if x64 else ()
        self.dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32", "int8", "int16", "int32", "uint8", "bool")
        self.dtypes += wide
        self._rngs = nnx.Rngs(0)
        self._cache = _use_compile_cache()
        initializers: dict[str, Callable[..., Callable[..., jax.Array]]] = {
            "normal": lambda mean, std: _shifted(mean, nnx.initializers.normal(stddev=std)),
            "zeros": lambda: nnx.initializers.zeros,
            "constant": lambda value: nnx.initializers.constant(value),
            "uniform": lambda a, b: _shifted(a, nnx.initializers.uniform(scale=b - a)),
            # Fans from the stored (in, out) kernel: Flax's default in_axis=-2, out_axis=-1.
            "xavier_uniform": lambda gain: nnx.initializers.variance_scaling(gain**2, "fan_avg", "uniform"),
        }
        self._initializers = kit.initializer_table(initializers)

    def version(self) -> str:
        return str(flax.__version__)

    def environment(self) -> dict[str, str]:
        return {
            "jax": jax.__version__,
            "jax_platform": jax.default_backend(),
            "jax_devices": ", ".join(str(d) for d in jax.devices()),
            "jax_enable_x64": str(self.dtypes[-1] == "int64"),
            "jax_compilation_cache": self._cache,
            "xla_flags": os.environ.get("XLA_FLAGS", "") or "none",
        }

    # --- devices ---------------------------------------------------------------------
    def _devices(self) -> dict[str, jax.Device]:
        host = jax.devices("cpu")
        named = {"cpu": host[0]}
        for device in [*host[1:], *blocks.accelerators()]:
            named[str(device)] = device
        return named

    def _device(self, name: str | None) -> jax.Device:
        devices = self._devices()
        if name is None:
            return devices["cpu"]
        if name not in devices:
            raise ValueError(f"Expected one of the devices {sorted(devices)} but got device={name!r}")
        return devices[name]

    def _name(self, device: jax.Device) -> str:
        return "cpu" if device == jax.devices("cpu")[0] else str(device)

    def accelerators(self) -> list[str]:
        return [self._name(d) for d in blocks.accelerators()]

    def device_count(self) -> int:
        return len(blocks.accelerators())

    def try_gpu(self, i: int = 0) -> str:
        return self._name(blocks.try_gpu(i))

    def try_all_gpus(self) -> list[str]:
        return [self._name(d) for d in blocks.try_all_gpus()]

    # --- tensors ---------------------------------------------------------------------
    def _array(self, obj: Any) -> jax.Array:
        value: jax.Array = obj.value if isinstance(obj, nnx.Variable) else obj  # a parameter handle is its Variable
        return value

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> jax.Array:
        host = np.asarray(array)
        if dtype is not None:
            host = host.astype(jnp.dtype(dtype))
        # An explicit device commits the array, as a tensor made on a device is in PyTorch.
        placed: jax.Array = jax.device_put(host, self._device(device))
        return placed

    def to_numpy(self, tensor: Any) -> np.ndarray:
        host = np.array(self._array(tensor))  # a writable copy: JAX's own host view is read-only
        return host.astype(np.float32) if host.dtype == jnp.bfloat16 else host

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        host = np.ascontiguousarray(np.asarray(self._array(tensor)))
        return str(host.dtype), tuple(host.shape), host.tobytes()

    def strided_view(self, tensor: Any, layout: str) -> jax.Array:
        array = self._array(tensor)  # JAX has no views: each is a copy
        if layout == "transposed":
            return array.T
        return array[::2] if layout == "step" else array[1:]

    def device_of(self, tensor: Any) -> str:
        devices = self._array(tensor).devices()
        if len(devices) != 1:
            raise ValueError(f"Expected an array on one device but got one sharded over {sorted(map(str, devices))}")
        return self._name(next(iter(devices)))

    def to_device(self, tensor: Any, device: str) -> jax.Array:
        moved: jax.Array = jax.device_put(self._array(tensor), self._device(device))
        return moved

    def add(self, a: Any, b: Any) -> jax.Array:
        return self._array(a) + self._array(b)

    # --- building ----------------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Any:
        jdtype = jnp.dtype(dtype)
        rngs = self._rngs
        layouts = weight_layouts(self)

        def linear(node: A.Linear) -> Any:
            given: dict[str, Any] = {}
            values = kit.stored_values(node, layouts)
            if values is not None:  # the values as the initializers: no random draw compiled per shape
                given["kernel_init"] = _given(values[0])
                if values[1] is not None:
                    given["bias_init"] = _given(values[1])
            return self.linear_class(
                node.in_features, node.out_features, use_bias=node.bias, param_dtype=jdtype, rngs=rngs, **given
            )

        def my_linear(node: A.MyLinear) -> Any:
            layer = self.blocks.MyLinear(node.in_units, node.units, rngs=rngs)
            mine = kit.stored_values(node, layouts)
            layer.weight.value = jnp.asarray(layer.weight.value if mine is None else mine[0], dtype=jdtype)
            bias = layer.bias.value if mine is None or mine[1] is None else mine[1]
            layer.bias.value = jnp.asarray(bias, dtype=jdtype)
            return layer

        make = kit.maker(
            "Flax",
            linear=linear,
            my_linear=my_linear,
            # each class looked up when a node of its kind is built (kit.chapter_table says why)
            relu=lambda: self.blocks.ReLU(),
            centered=lambda: self.blocks.CenteredLayer(),
            block=lambda children: self.blocks.Block(children),
            sequential=lambda *kids: self.sequential_class(*kids),
            my_sequential=lambda *kids: self.blocks.MySequential(*kids),
            named=lambda: self.blocks.NamedSequential(),
        )
        module = self.build_tree(node, make)
        return module if device is None else self.module_to(module, device)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        rngs, b = self._rngs, self.blocks
        table = kit.chapter_table(
            b,
            lambda: b.MySequential(nnx.Linear(20, 256, rngs=rngs), b.ReLU(), nnx.Linear(256, 10, rngs=rngs)),
            rngs=rngs,
        )
        module = kit.chapter_block(table, name)
        return module if device is None else self.module_to(module, device)

    def forward(self, module: Any, x: Any) -> jax.Array:
        out: jax.Array = module(self._array(x))
        return out

    # --- the module graph, in registration order -----------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        return self._children(module, _entries)

    @staticmethod
    def _children(module: Any, entries: Callable[[Any], list[tuple[Any, Any]]]) -> list[tuple[str, Any]]:
        if isinstance(module, nnx.Sequential):
            return [(str(i), layer) for i, layer in enumerate(module.layers)]
        if isinstance(module, blocks.MySequential):
            return [(name, getattr(module, name)) for name in module._order]
        # The nodes nnx.state descends into: Modules, and the lists, tuples and dicts kept with nnx.data.
        return [(str(key), value) for key, value in entries(module) if _holds_entries(value)]

    @staticmethod
    def _own(module: Any, entries: Callable[[Any], list[tuple[Any, Any]]]) -> list[tuple[str, Variable]]:
        """A node's own Variables under the chapter's leaf names (an ``nnx.Linear``'s ``kernel`` is ``weight``)."""
        return [(_leaf_name(module, str(k)), v) for k, v in entries(module) if isinstance(v, nnx.Variable)]

    def _walk(self, module: Any) -> list[tuple[str, Variable]]:
        """(path, Variable) for every Variable under every registration path.

        Each node is flattened once per walk (its Variables and its children both come from its entries);
        the tree holds every node until the walk ends, so a node's ``id`` names it for that long.
        """
        flattened: dict[int, list[tuple[Any, Any]]] = {}

        def entries(node: Any) -> list[tuple[Any, Any]]:
            if id(node) not in flattened:
                flattened[id(node)] = _entries(node)
            return flattened[id(node)]

        walked = kit.walk(module, lambda m: self._own(m, entries), lambda m: self._children(m, entries))
        return [(path, variable) for path, _, _, variable in walked]

    def named_parameters(self, module: Any) -> list[tuple[str, Variable]]:
        return kit.first_paths([(path, v) for path, v in self._walk(module) if isinstance(v, nnx.Param)])

    def state_dict(self, module: Any) -> list[tuple[str, jax.Array]]:
        return [(path, variable.value) for path, variable in self._walk(module)]

    def named_buffers(self, module: Any) -> list[tuple[str, jax.Array]]:
        kept = kit.first_paths([(path, v) for path, v in self._walk(module) if not isinstance(v, nnx.Param)])
        return [(path, variable.value) for path, variable in kept]

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        # Flax's restore, the last step of every checkpoint recipe (orbax or flax.serialization):
        # nnx.update(model, state). It has no strict mode and reports no keys: the same call either way,
        # and whatever it accepts, refuses or leaves out is Flax's (docs/flax.md).
        flat = {self._flax_path(module, key): self._array(value) for key, value in state.items()}
        with kit.refusals(ValueError, TypeError, AttributeError, KeyError, IndexError):
            nnx.update(module, nnx.from_flat_state(flat))
        return LoadResult([], [])  # nnx.update reports nothing

    def _flax_path(self, module: Any, key: str) -> tuple[Any, ...]:
        """The ``nnx.state`` path of the dotted key ``key``: the naming of :meth:`named_children` undone."""
        node: Any = module
        path: list[Any] = []
        parts = key.split(".")
        for i, part in enumerate(parts):
            if isinstance(node, nnx.Sequential) and part.isdigit():
                path += ["layers", int(part)]
                node = node.layers[int(part)] if int(part) < len(node.layers) else None
                continue
            name = _attribute(node, part) if i == len(parts) - 1 else part
            # Flax's own key for the name (a list index is the int 0, named "0"); an unknown name as it is.
            key, node = next(((k, v) for k, v in _entries(node) if str(k) == name), (name, None))
            path.append(key)
        return tuple(path)

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, nnx.Param)

    # --- gradients -----------------------------------------------------------------------
    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        x = self._array(x)
        out_device = next(iter(x.devices()))

        def loss(model: Any, inputs: jax.Array) -> jax.Array:
            out = model(inputs)
            return jnp.sum(out * jax.device_put(jnp.asarray(cotangent, dtype=out.dtype), out_device))

        grad_state, grad_x = nnx.grad(loss, argnums=(0, 1))(module, x)
        by_variable = {id(variable): name for name, variable in self.named_parameters(module)}
        at_path = dict(nnx.state(module, nnx.Param).flat_state())  # the Param at each path nnx.grad names
        params: dict[str, np.ndarray] = {}
        devices: dict[str, str] = {}
        for path, grad in nnx.to_flat_state(grad_state):
            name = by_variable[id(at_path[path])]
            value = grad.value if isinstance(grad, nnx.Variable) else grad
            params[name] = self.to_numpy(value)
            devices[name] = self.device_of(value)
        return Gradients(self.to_numpy(grad_x), params, devices)

    # --- initialization ------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        self._rngs = nnx.Rngs(seed)

    def init_(self, parameter: Variable, scheme: str, **kwargs: float) -> None:
        init = kit.initializer(self._initializers, scheme, kwargs)
        old = parameter.value
        value = init(self._rngs.params(), old.shape, old.dtype)
        parameter.value = jax.device_put(value.astype(old.dtype), old.sharding)

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any, nnx.Rngs], None] = getattr(self.blocks, name)
        return functools.partial(self._call_init, fn)

    def _call_init(self, fn: Callable[[Any, nnx.Rngs], None], module: Any) -> None:
        fn(module, self._rngs)  # the key stream current when the init runs, as torch's global generator

    # --- mutable-parameters, module-repr, accelerator ------------------------------------------
    def assign(self, parameter: Variable, value: np.ndarray) -> None:
        parameter[...] = value  # Flax's in-place write: JAX casts to, and checks, the Variable's dtype and shape

    def describe(self, module: Any) -> str:
        return repr(module)

    def module_to(self, module: Any, device: str) -> Any:
        # Variables keep their identity: nnx.update replaces each one's value in place.
        nnx.update(module, jax.device_put(nnx.state(module), self._device(device)))
        return module

    # --- files -----------------------------------------------------------------------------
    def write_safetensors(self, module: Any, path: Path) -> None:
        # What Flax users write: the model's nnx.Param state, flattened to dotted keys, with safetensors.flax.
        state = nnx.state(module, nnx.Param)
        flat = {".".join(map(str, key)): variable.get_value() for key, variable in state.flat_state()}
        safetensors.flax.save_file(flat, str(path))

    def read_safetensors(self, path: Path) -> dict[str, Any]:
        return dict(safetensors.flax.load_file(str(path)))

    def save(self, obj: Any, path: Path) -> None:
        Path(path).write_bytes(serialization.msgpack_serialize(self._arrays(obj)))

    def _arrays(self, obj: Any) -> Any:
        """``obj`` with each parameter handle replaced by its array; containers as they are."""
        if isinstance(obj, dict):
            return {k: self._arrays(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self._arrays(v) for v in obj)
        return self._array(obj)

    def load(self, path: Path, map_location: str | None = None) -> Any:
        restored = serialization.msgpack_restore(Path(path).read_bytes())
        device = self._device(map_location)
        return jax.tree_util.tree_map(lambda leaf: jax.device_put(leaf, device), restored)
