"""The PyTorch adapter: thin, because the protocol follows PyTorch's own vocabulary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from conformance import arch as A
from conformance._protocol import Gradients, LoadRejected, LoadResult
from conformance.backends.torch import blocks

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

_INITS: dict[str, Callable[..., Any]] = {
    "normal": nn.init.normal_,
    "zeros": nn.init.zeros_,
    "constant": nn.init.constant_,
    "uniform": nn.init.uniform_,
    "xavier_uniform": nn.init.xavier_uniform_,
}


class AttributeBlock(nn.Module):
    """A user-written block: each child assigned as an attribute, applied in order."""

    def __init__(self, children: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self._order = [name for name, _ in children]
        for name, child in children:
            setattr(self, name, child)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        for name in self._order:
            X = getattr(self, name)(X)
        return X


class TorchBackend:
    """PyTorch, checked against the spec through its public API.

    The classes and the chapter module it builds with are class attributes,
    so that a variant (a subclass) can swap one of them.
    """

    name = "torch"
    linear_class: type[nn.Module] = nn.Linear
    sequential_class: type[nn.Sequential] = nn.Sequential
    block_class: type[nn.Module] = AttributeBlock
    blocks: Any = blocks
    build_tree = staticmethod(A.build_tree)
    capabilities = frozenset(
        {
            "mutable-parameters",
            "grad-attribute",
            "apply",
            "custom-sequential",
            "buffers",
            "module-repr",
            "lazy-init",
            "file-io",
            "accelerator",
            "multi-device",
            "device-names",
        }
    )
    float_dtypes = ("float32", "float64")
    dtypes = tuple(_DTYPES)

    def version(self) -> str:
        return str(torch.__version__)

    def environment(self) -> dict[str, str]:
        env = {"torch_cuda": str(torch.version.cuda), "cuda_devices": str(torch.cuda.device_count())}
        if torch.cuda.is_available():
            env["cuda_device_name"] = torch.cuda.get_device_name(0)
            env["tf32_matmul"] = str(torch.backends.cuda.matmul.allow_tf32)
        return env

    # --- tensors and devices ---------------------------------------------------
    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> torch.Tensor:
        if device is None and dtype is None:
            return torch.tensor(array)
        t = torch.tensor(array)
        if dtype is not None:
            t = t.to(_DTYPES[dtype])
        return t if device is None else t.to(device)

    def to_numpy(self, tensor: torch.Tensor) -> np.ndarray:
        t = tensor.detach().cpu()
        return (t.float() if t.dtype is torch.bfloat16 else t).numpy()

    def bits(self, tensor: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
        t = tensor.detach().cpu().contiguous()
        raw = t.view(torch.int16) if t.dtype is torch.bfloat16 else t
        return _NAMES[t.dtype], tuple(t.shape), raw.numpy().tobytes()

    def device_of(self, tensor: torch.Tensor) -> str:
        return str(tensor.device)

    def accelerators(self) -> list[str]:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    # --- modules -----------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> nn.Module:
        torch_dtype = _DTYPES[dtype]

        def make(node: A.Node, child: Callable[[A.Node], nn.Module]) -> nn.Module:
            if isinstance(node, A.Linear):
                layer = self.linear_class(node.in_features, node.out_features, node.bias, dtype=torch_dtype)
                return _load_values(layer, node.values)
            if isinstance(node, A.MyLinear):
                return _load_values(self.blocks.MyLinear(node.in_units, node.units).to(torch_dtype), node.values)
            if isinstance(node, A.LazyLinear):
                return nn.LazyLinear(node.out_features, node.bias, dtype=torch_dtype)
            if isinstance(node, A.ReLU):
                return nn.ReLU()
            if isinstance(node, A.Centered):
                centered: nn.Module = self.blocks.CenteredLayer()
                return centered
            if isinstance(node, A.Block):
                return self.block_class([(name, child(c)) for name, c in node.children])
            if isinstance(node, A.Sequential):
                kids = [child(c) for c in node.children]
                if node.custom:
                    mine: nn.Module = self.blocks.MySequential(*kids)
                    return mine
                if node.names is None:
                    return self.sequential_class(*kids)
                net = self.sequential_class()
                for name, kid in zip(node.names, kids, strict=True):
                    net.add_module(name, kid)
                return net
            raise TypeError(f"Expected an architecture node but got {node!r}")

        module = self.build_tree(node, make)
        return module if device is None else module.to(device)

    def chapter(self, name: str, *, device: str | None = None) -> nn.Module:
        chapter = self.blocks
        factories: dict[str, Callable[[], nn.Module]] = {
            "MLP": chapter.MLP,
            "FixedHiddenMLP": chapter.FixedHiddenMLP,
            "MySequential": lambda: chapter.MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)),
            "block1": chapter.block1,
            "block2": chapter.block2,
            "rgnet": chapter.rgnet,
            "tied_net": chapter.tied_net,
            "CenteredLayer": chapter.CenteredLayer,
            "MyLinear": lambda: chapter.MyLinear(5, 3),
        }
        module = factories[name]()
        return module if device is None else module.to(device)

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = module(x)
        return out

    def gradients(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> Gradients:
        x = x.detach().clone().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        try:
            self._backward(module, x, cotangent)
            params = {n: self.to_numpy(p.grad) for n, p in module.named_parameters() if p.grad is not None}
            devices = {n: str(p.grad.device) for n, p in module.named_parameters() if p.grad is not None}
        finally:
            module.zero_grad(set_to_none=True)
        grad_x = np.zeros(tuple(x.shape), dtype=np.float64) if x.grad is None else self.to_numpy(x.grad)
        return Gradients(grad_x, params, devices)

    def named_parameters(self, module: nn.Module) -> list[tuple[str, nn.Parameter]]:
        return list(module.named_parameters())

    def state_dict(self, module: nn.Module) -> list[tuple[str, torch.Tensor]]:
        return list(module.state_dict().items())

    def load_state_dict(self, module: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool) -> LoadResult:
        try:
            result = module.load_state_dict(dict(state), strict=strict)
        except RuntimeError as exc:
            raise LoadRejected(str(exc)) from exc
        return LoadResult(list(result.missing_keys), list(result.unexpected_keys))

    def named_children(self, module: nn.Module) -> list[tuple[str, nn.Module]]:
        # _modules keeps every registration, a module registered twice included;
        # named_children() would drop the second one.
        return [(name, child) for name, child in module._modules.items() if child is not None]

    def index(self, module: nn.Sequential, i: int) -> nn.Module:
        return module[i]

    def length(self, module: nn.Sequential) -> int:
        return len(module)

    def iterate(self, module: nn.Sequential) -> list[nn.Module]:
        return list(module)

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, nn.Parameter)

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def init_(self, parameter: nn.Parameter, scheme: str, **kwargs: float) -> None:
        if scheme == "constant":
            kwargs = {"val": kwargs["value"]}
        _INITS[scheme](parameter, **kwargs)

    # --- grad-attribute ---------------------------------------------------------------
    def backward(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> None:
        self._backward(module, x, cotangent)

    def _backward(self, module: nn.Module, x: torch.Tensor, cotangent: np.ndarray) -> None:
        out = module(x)
        weights = torch.as_tensor(cotangent, dtype=out.dtype, device=out.device)
        (out * weights).sum().backward()

    def grad(self, parameter: nn.Parameter) -> np.ndarray | None:
        return None if parameter.grad is None else self.to_numpy(parameter.grad)

    # --- mutable-parameters -------------------------------------------------------------
    def assign(self, parameter: nn.Parameter, value: np.ndarray) -> None:
        parameter.data[...] = torch.as_tensor(value, dtype=parameter.dtype, device=parameter.device)

    # --- apply ----------------------------------------------------------------------------
    def apply(self, module: nn.Module, fn: Callable[[nn.Module], None]) -> None:
        module.apply(fn)

    def chapter_init(self, name: str) -> Callable[[nn.Module], None]:
        fn: Callable[[nn.Module], None] = getattr(self.blocks, name)
        return fn

    def describe(self, module: nn.Module) -> str:
        return str(module)

    # --- file-io ----------------------------------------------------------------------------
    def save(self, obj: Any, path: Path) -> None:
        torch.save(obj, path)

    def load(self, path: Path, map_location: str | None = None) -> Any:
        return torch.load(path, map_location=map_location, weights_only=True)

    # --- accelerator ---------------------------------------------------------------------------
    def device_count(self) -> int:
        return torch.cuda.device_count()

    def try_gpu(self, i: int = 0) -> str:
        return str(self.blocks.try_gpu(i))

    def try_all_gpus(self) -> list[str]:
        return [str(d) for d in self.blocks.try_all_gpus()]

    def to_device(self, tensor: torch.Tensor, device: str) -> torch.Tensor:
        return tensor.to(device)

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    def module_to(self, module: nn.Module, device: str) -> nn.Module:
        return module.to(device)

    def named_buffers(self, module: nn.Module) -> list[tuple[str, torch.Tensor]]:
        return list(module.named_buffers())

    def device_equal(self, a: str, b: str) -> bool:
        return bool(torch.device(a) == torch.device(b))

    def accelerator_type(self) -> str:
        return "cuda"


def _load_values(layer: nn.Module, values: A.LinearValues | None) -> nn.Module:
    """Copy explicit values into a layer's ``weight`` and ``bias`` (layouts as the layer has them)."""
    if values is not None:
        params = dict(layer.named_parameters())
        with torch.no_grad():
            params["weight"].copy_(torch.as_tensor(values.weight))
            if values.bias is not None:
                params["bias"].copy_(torch.as_tensor(values.bias))
    return layer
