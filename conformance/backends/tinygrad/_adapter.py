"""The tinygrad adapter: a framework with no Module class, lazy tensors, and string devices.

How each chapter concept is read from tinygrad (``docs/tinygrad.md`` has the
standalone snippets behind every departure):

- **Modules.** A model is any object graph; the adapter walks it the way
  ``nn.state.get_state_dict`` does (attributes, lists, dicts). A child is
  anything in that graph that is not a tensor or a plain value; ReLU is the
  function ``Tensor.relu``. See :mod:`.blocks`.
- **Parameters.** tinygrad marks parameters with a flag, ``Tensor.is_param``
  (optimizers train the tensors with the flag and only realize the others).
  ``is_parameter`` reads that flag. It is ``True`` for *every* tensor unless
  set to ``False``, so a tensor from the factory reads as a parameter: a
  departure the manifest lists (PARAM-TYPE). ``named_parameters`` is the state
  dict's flagged tensors, each once under its first path.
- **Lazy evaluation.** tinygrad builds a graph and runs it on ``realize()``.
  Every member that the suite expects to fail when the framework refuses
  (``tensor``, ``forward``, ``add``, ``to_device``, ``load``, ``assign``,
  initializers) realizes its result before returning, so the error surfaces
  in that call and not later in an unrelated one.
- **Errors.** tinygrad checks many things with ``assert``. An
  ``AssertionError`` raised inside tinygrad would read as a clause failure, so
  every public member re-raises it as :class:`TinygradAssertion` (a
  ``RuntimeError``, the original chained): the verdict is ``error`` with
  tinygrad's message, never ``fail``.
- **Loading.** ``nn.state.load_state_dict`` is tinygrad's: strict loading
  raises ``KeyError`` on the *first* missing key and accepts unexpected keys
  silently (both in the manifest). It reports nothing about a non-strict load,
  and neither does the adapter (LOAD-NONSTRICT-REPORTS is in the manifest).
- **Files.** ``nn.state.safe_save``/``safe_load``: safetensors, a flat
  mapping from names to tensors, never code. A nesting is flattened by
  ``get_state_dict`` (``[x, y]`` is saved as ``{'0': x, '1': y}``, and so loads
  back as that dict); a single tensor is saved under the name ``''`` and loaded
  back as the tensor (the one translation of a file: ``get_state_dict``'s own
  name for a lone tensor). ``safe_load(path)`` is called on the path, as a
  user does; what it keeps of the file is tinygrad's.
- **Devices.** The host is ``CPU`` (:data:`host_device`). Accelerators are
  the non-CPU default device, or host devices ``CPU:1`` ... (see
  :func:`.blocks.accelerators`). tinygrad names index 0 without its index
  (``CUDA:0`` is ``CUDA``), and on the host devices the unindexed type is the
  host itself, so ``device-names`` is not declared. A 0-d tensor made from a
  NumPy scalar is a constant with no device at all (``device`` is ``None``).
- **dtypes.** ``bfloat16`` is declared only when the installed compiler
  builds a bfloat16 kernel (clang for the CPU target often cannot).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import tinygrad
from tinygrad import helpers as tg_helpers
from tinygrad import nn
from tinygrad.device import Device
from tinygrad.dtype import dtypes
from tinygrad.nn import state as tg_state
from tinygrad.tensor import Tensor

from conformance import arch as A
from conformance._protocol import Gradients, LoadResult
from conformance.backends import _kit as kit
from conformance.backends._children import ChildrenByPosition
from conformance.backends.tinygrad import blocks

F = TypeVar("F", bound=Callable[..., Any])

_PLAIN = (str, bytes, int, float, bool, type(None))


class TinygradAssertion(RuntimeError):
    """An ``AssertionError`` raised inside tinygrad: a framework error, not a clause violation."""


def _guard(fn: F) -> F:
    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        with kit.inside("tinygrad", TinygradAssertion):
            return fn(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def _guarded(cls: type) -> type:
    """Wrap every public method of ``cls`` with :func:`_guard`."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and not isinstance(value, type):
            setattr(cls, name, _guard(value))
    return cls


def _bfloat16_compiles() -> bool:
    """Whether a bfloat16 kernel builds here; the compiler's complaints are kept off the terminal."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            Tensor([1.0], dtype=dtypes.bfloat16).cast(dtypes.float32).realize()
    except Exception:  # a compiler error of any kind means: not on this machine
        return False
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return True


def _is_module(value: Any) -> bool:
    return not isinstance(value, (Tensor, *_PLAIN)) and (callable(value) or isinstance(value, (list, tuple, dict)))


@_guarded
class TinygradBackend(ChildrenByPosition, kit.TreeBuilder, kit.StateDictCheckpoints):
    """tinygrad, checked against the spec through its public API."""

    name = "tinygrad"
    capabilities = frozenset(
        {
            "mutable-parameters",
            "grad-attribute",
            "custom-sequential",
            "buffers",
            "file-io",
            "module-checkpoint",
            "accelerator",
            "multi-device",
            "param-ties",
        }
    )
    host_device = blocks.HOST
    #: tinygrad compiles a kernel per shape: the run draws sizes from a palette (``blockspec run --shapes``).
    compiles_per_shape = True
    float_dtypes: tuple[str, ...] = ("float32", "float64")
    #: tinygrad's known departures from the spec (see the file): xfail while they fail.
    known_failures = Path(__file__).with_name("known_failures.toml")
    interop_writer_failures = Path(__file__).with_name("interop_known_failures.toml")
    blocks: Any = blocks
    linear_class: Any = nn.Linear

    def __init__(self) -> None:
        names = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
        self._bfloat16 = _bfloat16_compiles()
        if self._bfloat16:
            names.insert(1, "bfloat16")
        self.dtypes: tuple[str, ...] = tuple(names)
        opts = self._like

        initializers: dict[str, Callable[..., Callable[[Tensor], Tensor]]] = {
            "normal": lambda mean, std: lambda p: Tensor.normal(*p.shape, mean=mean, std=std, **opts(p)),
            "zeros": lambda: lambda p: p.zeros_like(),
            "constant": lambda value: lambda p: p.full_like(value),
            "uniform": lambda a, b: lambda p: Tensor.uniform(*p.shape, low=a, high=b, **opts(p)),
            "xavier_uniform": lambda gain: lambda p: Tensor.glorot_uniform(*p.shape, **opts(p)) * gain,
        }
        self._initializers = kit.initializer_table(initializers)

    @staticmethod
    def _like(parameter: Tensor) -> dict[str, Any]:
        return {"dtype": parameter.dtype, "device": parameter.device}

    def version(self) -> str:
        from importlib.metadata import version

        return version("tinygrad")

    def environment(self) -> dict[str, str]:
        return {
            "tinygrad_default_device": str(Device.DEFAULT),
            "bfloat16_compiles": str(self._bfloat16),
            "accelerators": ", ".join(blocks.accelerators()) or "none",
            "tinygrad_path": str(Path(tinygrad.__file__).parent),
            "tinygrad_kernel_cache": str(getattr(tg_helpers, "CACHEDB", "unknown")),
            "tinygrad_compile_workers": str(getattr(getattr(tg_helpers, "PARALLEL", None), "value", "unknown")),
        }

    # --- tensors and devices ---------------------------------------------------------------
    def _dtype(self, name: str) -> Any:
        return dtypes.bfloat16 if name == "bfloat16" else getattr(dtypes, name)

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Tensor:
        if dtype == "bfloat16":
            t = Tensor(np.asarray(array, dtype=np.float32), device=device).cast(dtypes.bfloat16)
        else:
            t = Tensor(np.asarray(array if dtype is None else np.asarray(array, dtype=dtype)), device=device)
        return t.realize()

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        t = tensor.cast(dtypes.float32) if tensor.dtype == dtypes.bfloat16 else tensor
        return np.array(t.numpy())

    def bits(self, tensor: Tensor) -> tuple[str, tuple[int, ...], bytes]:
        if tensor.dtype == dtypes.bfloat16:
            raw = np.ascontiguousarray(tensor.bitcast(dtypes.uint16).numpy())
            return "bfloat16", tuple(raw.shape), raw.tobytes()
        host = np.ascontiguousarray(tensor.numpy())
        return str(host.dtype), tuple(host.shape), host.tobytes()

    def strided_view(self, tensor: Tensor, layout: str) -> Tensor:
        if layout == "transposed":  # tinygrad's .T swaps the first two dimensions only
            return tensor.permute(*reversed(range(tensor.ndim)))
        return tensor[::2] if layout == "step" else tensor[1:]

    def device_of(self, tensor: Tensor) -> str:
        device = tensor.device
        if isinstance(device, tuple):
            raise ValueError(f"Expected a tensor on one device but got one sharded over {list(device)}")
        return str(device)  # 'None' for a 0-d constant, which tinygrad places on no device

    def accelerators(self) -> list[str]:
        return blocks.accelerators()

    def device_count(self) -> int:
        return len(blocks.accelerators())

    def try_gpu(self, i: int = 0) -> str:
        return blocks.try_gpu(i)

    def try_all_gpus(self) -> list[str]:
        return blocks.try_all_gpus()

    def to_device(self, tensor: Tensor, device: str) -> Tensor:
        return tensor.to(device).realize()

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return (a + b).realize()

    def module_to(self, module: Any, device: str) -> Any:
        # tinygrad's idiom: move every tensor of the model in place (Tensor.to_).
        for tensor in {id(t): t for t in tg_state.get_state_dict(module).values()}.values():
            tensor.to_(device)
            tensor.realize()
        return module

    # --- modules ---------------------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Any:
        tg_dtype = self._dtype(dtype)
        b = self.blocks

        def layer(cls: Any, given: A.LinearValues | None, *args: Any, has_bias: bool = True, **kwargs: Any) -> Any:
            if given is None or (has_bias and given.bias is None):
                made = cls(*args, **kwargs)  # tinygrad's own initialization, cast to the dtype asked for
                made.weight = made.weight.cast(tg_dtype)
                if made.bias is not None:
                    made.bias = made.bias.cast(tg_dtype)
            else:
                # The values are given: the layer is made without its __init__. Its random draw would be
                # dropped unrealized, yet stay pending on tinygrad's RNG counter, and every later realize of
                # a random tensor schedules all of them (200 dropped draws: 8.5 s for the next nn.Linear).
                made = cls.__new__(cls)
                made.weight, made.bias = None, None  # in __init__'s order: the state dict lists weight first
            if given is not None:
                made.weight = Tensor(np.asarray(given.weight, dtype=dtype))
                if given.bias is not None:
                    made.bias = Tensor(np.asarray(given.bias, dtype=dtype))
            return made

        make = kit.maker(
            "tinygrad",
            linear=lambda n: layer(
                self.linear_class, n.values, n.in_features, n.out_features, has_bias=n.bias, bias=n.bias
            ),
            my_linear=lambda n: layer(b.MyLinear, n.values, n.in_units, n.units),
            relu=lambda: Tensor.relu,
            # the chapter's classes looked up when a node of their kind is built (kit.chapter_table says why)
            centered=lambda: b.CenteredLayer(),
            block=lambda children: b.Block(children),
            sequential=lambda *kids: b.Sequential(list(kids)),
            my_sequential=lambda *kids: b.MySequential(*kids),
            named=lambda: b.NamedSequential(),
        )

        module = self.build_tree(node, make)
        self._realize(module)
        return module if device is None else self.module_to(module, device)

    def _realize(self, module: Any) -> None:
        tensors = list({id(t): t for t in tg_state.get_state_dict(module).values()}.values())
        if tensors:
            Tensor.realize(*tensors)

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        b = self.blocks
        table = kit.chapter_table(b, lambda: b.MySequential(nn.Linear(20, 256), Tensor.relu, nn.Linear(256, 10)))
        module = kit.chapter_block(table, name)
        self._realize(module)
        return module if device is None else self.module_to(module, device)

    def forward(self, module: Any, x: Tensor) -> Tensor:
        out: Tensor = module(x)
        return out.realize()

    # --- the object graph --------------------------------------------------------------------
    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        if isinstance(module, (list, tuple)):
            return [(str(i), child) for i, child in enumerate(module)]
        if isinstance(module, dict):
            return [(str(k), child) for k, child in module.items()]
        # A function (Tensor.relu) is a leaf: its __dict__ holds decorator state (__wrapped__), not children.
        if isinstance(module, Tensor) or inspect.isroutine(module) or not hasattr(module, "__dict__"):
            return []
        return [(k, v) for k, v in vars(module).items() if _is_module(v)]

    def state_dict(self, module: Any) -> list[tuple[str, Tensor]]:
        return list(tg_state.get_state_dict(module).items())

    def _flagged(self, module: Any, flag: bool) -> list[tuple[str, Tensor]]:
        return kit.first_paths([(k, t) for k, t in tg_state.get_state_dict(module).items() if t.is_param is flag])

    def named_parameters(self, module: Any) -> list[tuple[str, Tensor]]:
        return self._flagged(module, True)

    def named_buffers(self, module: Any) -> list[tuple[str, Tensor]]:
        return self._flagged(module, False)

    def load_state_dict(self, module: Any, state: Mapping[str, Tensor], *, strict: bool) -> LoadResult:
        # KeyError: strict, the first key the state lacks; ValueError: a shape mismatch, naming the key.
        with kit.refusals(KeyError, ValueError):
            tg_state.load_state_dict(module, dict(state), strict=strict, verbose=False)
        return LoadResult([], [])  # tinygrad's load_state_dict reports no keys

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.is_param is True

    # --- gradients -----------------------------------------------------------------------------
    def _loss(self, module: Any, x: Tensor, cotangent: np.ndarray) -> Tensor:
        out: Tensor = module(x)
        return (out * Tensor(np.asarray(cotangent), device=out.device).cast(out.dtype)).sum()

    def gradients(self, module: Any, x: Tensor, cotangent: np.ndarray) -> Gradients:
        # Tensor.gradient returns the gradients and stores none: no state is left behind.
        params = self.named_parameters(module)
        x = Tensor(x.numpy(), device=x.device).realize()  # a fresh leaf, so a reused input has no history
        loss = self._loss(module, x, cotangent)
        found = loss.gradient(x, *[p for _, p in params])
        Tensor.realize(*found)
        grads = {name: g for (name, _), g in zip(params, found[1:], strict=True)}
        return Gradients(
            self.to_numpy(found[0]),
            {name: self.to_numpy(g) for name, g in grads.items()},
            {name: str(g.device) for name, g in grads.items()},
        )

    def backward(self, module: Any, x: Tensor, cotangent: np.ndarray) -> None:
        self._loss(module, x, cotangent).backward()
        grads = [p.grad for _, p in self.named_parameters(module) if p.grad is not None]
        if grads:
            Tensor.realize(*grads)

    def grad(self, parameter: Tensor) -> np.ndarray | None:
        return None if parameter.grad is None else self.to_numpy(parameter.grad)

    # --- initialization ----------------------------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        Tensor.manual_seed(seed)

    def init_(self, parameter: Tensor, scheme: str, **kwargs: float) -> None:
        value = kit.initializer(self._initializers, scheme, kwargs)(parameter)
        parameter.assign(value.cast(parameter.dtype)).realize()

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        return _guard(getattr(self.blocks, name))  # type: ignore[no-any-return]

    # --- mutable-parameters --------------------------------------------------------------------------
    def assign(self, parameter: Tensor, value: np.ndarray) -> None:
        host = np.asarray(value, dtype=parameter.numpy().dtype)
        parameter.assign(Tensor(host, device=parameter.device)).realize()

    # --- files ---------------------------------------------------------------------------------------
    def save(self, obj: Any, path: Path) -> None:
        tg_state.safe_save(tg_state.get_state_dict(obj), str(path))

    def write_safetensors(self, module: Any, path: Path) -> None:
        tg_state.safe_save(tg_state.get_state_dict(module), str(path))

    def read_safetensors(self, path: Path) -> dict[str, Any]:
        return {key: value.to(Device.DEFAULT).realize() for key, value in tg_state.safe_load(str(path)).items()}

    def load(self, path: Path, map_location: str | None = None) -> Any:
        device = Device.DEFAULT if map_location is None else map_location
        loaded = {key: value.to(device).realize() for key, value in tg_state.safe_load(str(path)).items()}
        if list(loaded) == [""]:  # get_state_dict's name for a lone tensor
            return loaded[""]
        return loaded
