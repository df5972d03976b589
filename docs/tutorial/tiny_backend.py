"""A blockspec adapter for tinyframe: the worked example of "Write your own backend".

Run it with::

    PYTHONPATH=docs/tutorial blockspec run --backend tiny_backend:TinyBackend

The adapter has two halves: the chapter's blocks written in tinyframe (what
a user of the framework would write), and the protocol members that let the
suite build and observe them. tinyframe has no ``.grad`` attribute, no
``apply``, no lazy layers, no files and no devices, so the adapter declares
only two capabilities; every clause needing another one is reported
``not-applicable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tinyframe as tf

from conformance import Gradients, LoadRejected, LoadResult
from conformance import arch as A


# --- the chapter's blocks, in tinyframe --------------------------------------------------------
class MLP(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = tf.Linear(20, 256)
        self.out = tf.Linear(256, 10)

    def forward(self, X: tf.Tensor) -> tf.Tensor:
        return self.out(self.hidden(X).relu())


class FixedHiddenMLP(tf.Module):
    rand_weight: tf.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("rand_weight", tf.Tensor(tf.generator().random((20, 20), dtype=np.float32)))
        self.linear = tf.Linear(20, 20)

    def forward(self, X: tf.Tensor) -> tf.Tensor:
        X = self.linear(X)
        X = (X @ self.rand_weight + 1.0).relu()
        X = self.linear(X)
        while np.abs(X.data).sum() > 1:
            X = X / 2
        return X.sum()


class Block(tf.Module):
    """A user-written block: children as attributes, applied in order."""

    def __init__(self, children: list[tuple[str, tf.Module]]) -> None:
        super().__init__()
        for name, child in children:
            setattr(self, name, child)

    def forward(self, X: tf.Tensor) -> tf.Tensor:
        for _, child in self.named_children():
            X = child(X)
        return X


class CenteredLayer(tf.Module):
    def forward(self, X: tf.Tensor) -> tf.Tensor:
        return X - X.mean()


class MyLinear(tf.Module):
    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        self.weight = tf.Parameter(tf.generator().normal(size=(in_units, units)).astype(np.float32))
        self.bias = tf.Parameter(tf.generator().normal(size=units).astype(np.float32))

    def forward(self, X: tf.Tensor) -> tf.Tensor:
        return (X @ self.weight + self.bias).relu()


def tied_net() -> tf.Sequential:
    shared = tf.Linear(8, 8)
    return tf.Sequential(tf.Linear(4, 8), tf.ReLU(), shared, tf.ReLU(), shared, tf.ReLU(), tf.Linear(8, 1))


def rgnet() -> tf.Sequential:
    def block1() -> tf.Sequential:
        return tf.Sequential(tf.Linear(4, 8), tf.ReLU(), tf.Linear(8, 4), tf.ReLU())

    block2 = tf.Sequential()
    for i in range(4):
        block2.add_module(f"block {i}", block1())
    return tf.Sequential(block2, tf.Linear(4, 1))


def my_init(m: tf.Module) -> None:
    if isinstance(m, tf.Linear):
        tf.uniform_(m.weight, -10, 10)
        m.weight.data *= np.abs(m.weight.data) >= 5


# --- the adapter ---------------------------------------------------------------------------------
class TinyBackend:
    """tinyframe, seen through the Backend protocol."""

    name = "tinyframe"
    capabilities = frozenset({"mutable-parameters", "buffers"})
    float_dtypes = ("float32",)
    dtypes = ("float32", "float64", "int64", "bool")
    host_device = "cpu"  # tinyframe's only device, named the way its users name it

    def version(self) -> str:
        return "0.1"

    def environment(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    # tensors and devices: everything lives on the CPU
    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> tf.Tensor:
        return tf.Tensor(np.array(array, dtype=dtype))

    def to_numpy(self, tensor: tf.Tensor) -> np.ndarray:
        return np.array(tensor.data)

    def bits(self, tensor: tf.Tensor) -> tuple[str, tuple[int, ...], bytes]:
        data = np.ascontiguousarray(tensor.data)
        return str(data.dtype), tuple(data.shape), data.tobytes()

    def strided_view(self, tensor: tf.Tensor, layout: str) -> tf.Tensor:
        if layout == "transposed":
            return tensor.T
        return tf.Tensor(tensor.data[::2] if layout == "step" else tensor.data[1:])  # tinyframe has no slicing op

    def device_of(self, tensor: tf.Tensor) -> str:
        return self.host_device

    def accelerators(self) -> list[str]:
        return []

    # modules: build an architecture node (see conformance.arch) with the framework's own classes
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> tf.Module:
        def make(node: A.Node, child: Callable[[A.Node], tf.Module]) -> tf.Module:
            if isinstance(node, A.Linear):
                layer = tf.Linear(node.in_features, node.out_features, node.bias)
                if node.values is not None:
                    layer.weight.data[...] = node.values.weight
                    if layer.bias is not None and node.values.bias is not None:
                        layer.bias.data[...] = node.values.bias
                return layer
            if isinstance(node, A.MyLinear):
                mine = MyLinear(node.in_units, node.units)
                if node.values is not None:
                    mine.weight.data[...] = node.values.weight
                    if node.values.bias is not None:
                        mine.bias.data[...] = node.values.bias
                return mine
            if isinstance(node, A.ReLU):
                return tf.ReLU()
            if isinstance(node, A.Centered):
                return CenteredLayer()
            if isinstance(node, A.Block):
                return Block([(name, child(c)) for name, c in node.children])
            if isinstance(node, A.Sequential):
                kids = [child(c) for c in node.children]
                if node.names is None:
                    return tf.Sequential(*kids)
                net = tf.Sequential()
                for name, kid in zip(node.names, kids, strict=True):
                    net.add_module(name, kid)
                return net
            raise TypeError(f"Expected a node tinyframe can build (no lazy layers) but got {node!r}")

        module: tf.Module = A.build_tree(node, make)  # builds a shared node once: that is tying
        return module

    def chapter(self, name: str, *, device: str | None = None) -> tf.Module:
        factories: dict[str, Callable[[], tf.Module]] = {
            "MLP": MLP,
            "FixedHiddenMLP": FixedHiddenMLP,
            "rgnet": rgnet,
            "tied_net": tied_net,
            "CenteredLayer": CenteredLayer,
            "MyLinear": lambda: MyLinear(5, 3),
        }
        return factories[name]()

    def forward(self, module: tf.Module, x: tf.Tensor) -> tf.Tensor:
        return module(x)

    def gradients(self, module: tf.Module, x: tf.Tensor, cotangent: np.ndarray) -> Gradients:
        x = tf.Tensor(x.data)  # a fresh leaf, so the gradient w.r.t. x is its own
        params = module.named_parameters()
        found = tf.grad(module(x), [x] + [p for _, p in params], cotangent)
        grads = {name: np.array(g) for (name, _), g in zip(params, found[1:], strict=True) if g is not None}
        grad_x = np.zeros(x.shape, x.data.dtype) if found[0] is None else np.array(found[0])
        return Gradients(grad_x, grads, {name: self.host_device for name in grads})

    def named_parameters(self, module: tf.Module) -> list[tuple[str, Any]]:
        return list(module.named_parameters())

    def state_dict(self, module: tf.Module) -> list[tuple[str, Any]]:
        return list(module.state_dict().items())

    def load_state_dict(self, module: tf.Module, state: Mapping[str, Any], *, strict: bool) -> LoadResult:
        try:
            missing, unexpected = module.load_state_dict({k: v.data for k, v in state.items()}, strict=strict)
        except (KeyError, ValueError) as exc:
            raise LoadRejected(str(exc)) from exc
        return LoadResult(missing, unexpected)

    def named_children(self, module: tf.Module) -> list[tuple[str, Any]]:
        return module.named_children()

    def index(self, module: Any, i: int) -> Any:
        return module[i]

    def length(self, module: Any) -> int:
        return len(module)

    def iterate(self, module: Any) -> list[Any]:
        return [child for _, child in module.named_children()]

    def is_parameter(self, obj: Any) -> bool:
        return isinstance(obj, tf.Parameter)

    def manual_seed(self, seed: int) -> None:
        tf.manual_seed(seed)

    def init_(self, parameter: tf.Parameter, scheme: str, **kwargs: float) -> None:
        initializer: Callable[..., None] = getattr(tf, f"{scheme}_")
        initializer(parameter, **kwargs)

    def chapter_init(self, name: str) -> Callable[[Any], None]:
        if name != "my_init":
            raise NotImplementedError(
                f"Expected my_init, the only chapter initializer the suite calls without apply, but got {name!r}"
            )
        return my_init

    # capability "mutable-parameters"
    def assign(self, parameter: tf.Parameter, value: np.ndarray) -> None:
        parameter.data[...] = value

    # capability "buffers"
    def named_buffers(self, module: tf.Module) -> list[tuple[str, Any]]:
        params = {id(p) for _, p in module.named_parameters()}
        return [(k, v) for k, v in module.state_dict().items() if id(v) not in params]
