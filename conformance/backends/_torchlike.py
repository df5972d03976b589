"""What adapters of frameworks with PyTorch's module API share (torch, the reference).

Such frameworks spell every chapter concept the same way (``nn.Linear``,
``Module.apply``, ``state_dict``, ``.grad``), so the adapter is written once
against the framework module ``fw`` and its ``nn``; a subclass supplies the
few framework-specific primitives (dtypes, devices, files). This module
imports no framework itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from conformance import arch as A
from conformance._protocol import Gradients, LoadResult
from conformance.backends import _kit as kit
from conformance.backends._children import IndexedByFramework

#: What a framework with PyTorch's module API has, capability by capability (torch declares exactly these).
PYTORCH_CAPABILITIES = frozenset(
    {
        "mutable-parameters",
        "grad-attribute",
        "apply",
        "custom-sequential",
        "buffers",
        "module-repr",
        "lazy-init",
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


def attribute_block_class(module_base: type) -> type:
    """A user-written block for ``module_base``: each child an attribute, applied in order (4.1.1)."""

    class AttributeBlock(module_base):  # type: ignore[misc, valid-type]
        def __init__(self, children: list[tuple[str, Any]]) -> None:
            super().__init__()
            self._order = [name for name, _ in children]
            for name, child in children:
                setattr(self, name, child)

        def forward(self, X: Any) -> Any:
            for name in self._order:
                X = getattr(self, name)(X)
            return X

    return AttributeBlock


class TorchLikeBackend(IndexedByFramework, kit.TreeBuilder, kit.StateDictCheckpoints):
    """The Backend protocol for a framework shaped like PyTorch.

    Subclasses set ``fw`` (the framework module), ``nn``, ``blocks`` (the
    chapter's blocks written in that framework), the layer classes to build
    with, and implement the primitives marked below. The layer classes are
    attributes so that a variant (a mutant in the tests) can swap one.
    """

    name: str
    capabilities: frozenset[str]
    float_dtypes: tuple[str, ...] = ("float32", "float64")
    host_device = "cpu"
    dtypes: tuple[str, ...]
    fw: Any
    nn: Any
    blocks: Any
    linear_class: Any
    lazy_linear_class: Any
    sequential_class: Any
    block_class: Any
    load_errors: tuple[type[BaseException], ...]

    # --- primitives a subclass provides ------------------------------------------
    def version(self) -> str:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {}

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        raise NotImplementedError

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        raise NotImplementedError

    def accelerators(self) -> list[str]:
        raise NotImplementedError

    def device_count(self) -> int:
        raise NotImplementedError

    def accelerator_type(self) -> str:
        raise NotImplementedError

    def device_equal(self, a: str, b: str) -> bool:
        return bool(self.fw.device(a) == self.fw.device(b))

    def _dtype(self, name: str) -> Any:
        """The framework's dtype object for a NumPy dtype name."""
        raise NotImplementedError

    def _like(self, array: np.ndarray, tensor: Any) -> Any:
        """``array`` as a tensor of ``tensor``'s dtype and device."""
        raise NotImplementedError

    # --- tensors and devices ---------------------------------------------------------
    def to_numpy(self, tensor: Any) -> np.ndarray:
        result: np.ndarray = tensor.detach().cpu().numpy()
        return result

    def strided_view(self, tensor: Any, layout: str) -> Any:
        if layout == "transposed":
            return tensor.T
        return tensor[::2] if layout == "step" else tensor[1:]

    def device_of(self, tensor: Any) -> str:
        return str(tensor.device)

    def to_device(self, tensor: Any, device: str) -> Any:
        return tensor.to(device)

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    # --- modules -----------------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Any:
        fw_dtype = self._dtype(dtype)
        nn = self.nn

        make = kit.maker(
            self.name,
            linear=lambda n: self._load_values(
                self.linear_class(n.in_features, n.out_features, n.bias, dtype=fw_dtype), n.values
            ),
            my_linear=lambda n: self._load_values(self.blocks.MyLinear(n.in_units, n.units).to(fw_dtype), n.values),
            lazy_linear=lambda n: self.lazy_linear_class(n.out_features, n.bias, dtype=fw_dtype),
            relu=nn.ReLU,
            # Each class is looked up when a node of its kind is built, not before: the kill matrix's trace
            # (conformance/_access.py) then files the lookup under the clauses that build that kind alone.
            centered=lambda: self.blocks.CenteredLayer(),
            block=lambda children: self.block_class(children),
            sequential=lambda *kids: self.sequential_class(*kids),
            my_sequential=lambda *kids: self.blocks.MySequential(*kids),
            named=lambda: self.sequential_class(),
        )
        module = self.build_tree(node, make)
        return module if device is None else module.to(device)

    def _load_values(self, layer: Any, values: A.LinearValues | None) -> Any:
        """Copy explicit values into a layer's ``weight`` and ``bias``, in place."""
        if values is not None:
            params = dict(layer.named_parameters())
            with self.fw.no_grad():
                params["weight"].copy_(self._like(values.weight, params["weight"]))
                if values.bias is not None:
                    params["bias"].copy_(self._like(values.bias, params["bias"]))
        return layer

    def chapter(self, name: str, *, device: str | None = None) -> Any:
        chapter, nn = self.blocks, self.nn
        table = kit.chapter_table(
            chapter, lambda: chapter.MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        )
        module = kit.chapter_block(table, name)
        return module if device is None else module.to(device)

    def forward(self, module: Any, x: Any) -> Any:
        return module(x)

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        x = x.detach().clone()
        x.requires_grad_(True)
        module.zero_grad(set_to_none=True)
        try:
            self._backward(module, x, cotangent)
            grads = [(n, p.grad) for n, p in module.named_parameters() if p.grad is not None]
            params = {n: self.to_numpy(g) for n, g in grads}
            devices = {n: str(g.device) for n, g in grads}
        finally:
            module.zero_grad(set_to_none=True)
        grad_x = np.zeros(tuple(x.shape), dtype=np.float64) if x.grad is None else self.to_numpy(x.grad)
        return Gradients(grad_x, params, devices)

    def _backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        out = module(x)
        (out * self._like(cotangent, out)).sum().backward()

    def named_parameters(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_parameters())

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.state_dict().items())

    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        with kit.refusals(*self.load_errors):
            result = module.load_state_dict(dict(state), strict=strict)
        return LoadResult(list(result.missing_keys), list(result.unexpected_keys))

    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        # _modules keeps every registration, a module registered twice included;
        # named_children() would drop the second one.
        return [(name, child) for name, child in module._modules.items() if child is not None]

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, self.nn.Parameter)

    def manual_seed(self, seed: int) -> None:
        self.fw.manual_seed(seed)

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        init = self.nn.init
        table: dict[str, Callable[..., Callable[[Any], Any]]] = {
            "normal": lambda mean, std: lambda p: init.normal_(p, mean=mean, std=std),
            "zeros": lambda: init.zeros_,
            "constant": lambda value: lambda p: init.constant_(p, value),
            "uniform": lambda a, b: lambda p: init.uniform_(p, a=a, b=b),
            "xavier_uniform": lambda gain: lambda p: init.xavier_uniform_(p, gain=gain),
        }
        kit.initializer(kit.initializer_table(table), scheme, kwargs)(parameter)

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        fn: Callable[[Any], None] = getattr(self.blocks, name)
        return fn

    # --- grad-attribute, mutable-parameters, apply, repr -----------------------------------
    def backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        self._backward(module, x, cotangent)

    def grad(self, parameter: Any) -> np.ndarray | None:
        return None if parameter.grad is None else self.to_numpy(parameter.grad)

    def assign(self, parameter: Any, value: np.ndarray) -> None:
        parameter.data[...] = self._like(value, parameter)

    def apply(self, module: Any, fn: Callable[[Any], None]) -> None:
        module.apply(fn)

    def describe(self, module: Any) -> str:
        return str(module)

    # --- files and devices ------------------------------------------------------------------
    def save(self, obj: Any, path: Path) -> None:
        self.fw.save(obj, path)

    def try_gpu(self, i: int = 0) -> str:
        return str(self.blocks.try_gpu(i))

    def try_all_gpus(self) -> list[str]:
        return [str(d) for d in self.blocks.try_all_gpus()]

    def module_to(self, module: Any, device: str) -> Any:
        return module.to(device)

    def module_to_dtype(self, module: Any, dtype: str) -> Any:
        return module.to(self._dtype(dtype))

    def named_buffers(self, module: Any) -> list[tuple[str, Any]]:
        return list(module.named_buffers())
