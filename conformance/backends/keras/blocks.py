"""The chapter's blocks, written in Keras 3 as a Keras user would write them.

Keras spells the chapter's concepts its own way, and each block here says how:

- a block is a ``keras.layers.Layer`` subclass whose ``call`` is the forward;
  sublayers assigned as attributes are tracked automatically, as in 4.1.1;
- ``keras.layers.Dense(units)`` is the chapter's ``nn.Linear``: it stores
  ``kernel`` as (in, out), computes ``X @ kernel + bias``, and takes its input
  width from the first input it sees (every Dense is lazy; ``build((None,
  in))`` fixes the width up front, as ``nn.Linear(in, out)`` does);
- parameters are made with ``add_weight``; a constant is a non-trainable
  weight (``trainable=False``): saved with the weights, never differentiated;
- initializers are objects called with a shape (``RandomNormal(0, 0.01)``)
  whose result is written with ``variable.assign``; the Variable stays the
  same object;
- there is no ``add_module``: :class:`MySequential` and :class:`NamedSequential`
  keep their children's names and order explicitly (Keras' own
  ``Sequential`` reaches its layers by position, ``model.layers[i]``, and by
  each layer's unique ``name``, which one layer used twice cannot have twice);
- ``tied_net`` uses the same ``Dense`` object twice in a ``keras.Sequential``,
  Keras' way of sharing a layer.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class MLP(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(256)
        self.out = keras.layers.Dense(10)
        self.hidden.build((None, 20))
        self.out.build((None, 256))

    def call(self, X: Any) -> Any:
        return self.out(ops.relu(self.hidden(X)))


class FixedHiddenMLP(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A constant, not a parameter: a non-trainable weight, saved and moved with the block.
        self.rand_weight = self.add_weight(
            shape=(20, 20), initializer=keras.initializers.RandomUniform(0.0, 1.0), trainable=False, name="rand_weight"
        )
        self.linear = keras.layers.Dense(20)
        self.linear.build((None, 20))

    def call(self, X: Any) -> Any:
        X = self.linear(X)
        X = ops.relu(ops.matmul(X, self.rand_weight) + 1)
        X = self.linear(X)  # the same layer again: its parameters are shared
        while ops.sum(ops.abs(X)) > 1:  # Python control flow: Keras on torch runs eagerly
            X = X / 2
        return ops.sum(X)


class MySequential(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    """The chapter's MySequential: children set as attributes ``"0"``, ``"1"``, ... and applied in that order."""

    def __init__(self, *args: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._order: list[str] = []
        for idx, layer in enumerate(args):
            self.add_module(str(idx), layer)

    def add_module(self, name: str, layer: keras.layers.Layer) -> None:
        setattr(self, name, layer)
        self._order.append(name)

    def call(self, X: Any) -> Any:
        for name in self._order:
            X = getattr(self, name)(X)
        return X


class NamedSequential(MySequential):
    """``nn.Sequential()`` filled with ``add_module(name, block)``: Keras has no such call, so it is written out."""


class Block(MySequential):
    """A user-written block: each child an attribute, applied in the order assigned (4.1.1)."""

    def __init__(self, children: list[tuple[str, keras.layers.Layer]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, child in children:
            self.add_module(name, child)


def dense(in_features: int, out_features: int, use_bias: bool = True, dtype: str | None = None) -> keras.layers.Dense:
    """``nn.Linear(in, out)``: a Dense built for inputs of width ``in_features``."""
    layer = keras.layers.Dense(out_features, use_bias=use_bias, dtype=dtype)
    layer.build((None, in_features))
    return layer


def block1() -> keras.Sequential:
    return keras.Sequential([dense(4, 8), keras.layers.ReLU(), dense(8, 4), keras.layers.ReLU()])


def block2() -> NamedSequential:
    net = NamedSequential()
    for i in range(4):
        net.add_module(f"block {i}", block1())
    return net


def rgnet() -> keras.Sequential:
    return keras.Sequential([block2(), dense(4, 1)])


def tied_net() -> keras.Sequential:
    shared = dense(8, 8)
    return keras.Sequential(
        [dense(4, 8), keras.layers.ReLU(), shared, keras.layers.ReLU(), shared, keras.layers.ReLU(), dense(8, 1)]
    )


def init_normal(m: keras.layers.Layer) -> None:
    if isinstance(m, keras.layers.Dense):
        m.kernel.assign(keras.initializers.RandomNormal(mean=0.0, stddev=0.01)(m.kernel.shape, m.kernel.dtype))
        if m.bias is not None:
            m.bias.assign(ops.zeros(m.bias.shape, m.bias.dtype))


def init_constant(m: keras.layers.Layer) -> None:
    if isinstance(m, keras.layers.Dense):
        m.kernel.assign(ops.ones(m.kernel.shape, m.kernel.dtype))
        if m.bias is not None:
            m.bias.assign(ops.zeros(m.bias.shape, m.bias.dtype))


def init_xavier(m: keras.layers.Layer) -> None:
    if isinstance(m, keras.layers.Dense):
        m.kernel.assign(keras.initializers.GlorotUniform()(m.kernel.shape, m.kernel.dtype))


def init_42(m: keras.layers.Layer) -> None:
    if isinstance(m, keras.layers.Dense):
        m.kernel.assign(ops.full(m.kernel.shape, 42.0, m.kernel.dtype))


def my_init(m: keras.layers.Layer) -> None:
    if isinstance(m, keras.layers.Dense):
        w = keras.initializers.RandomUniform(-10.0, 10.0)(m.kernel.shape, m.kernel.dtype)
        m.kernel.assign(w * ops.cast(ops.abs(w) >= 5, w.dtype))


class CenteredLayer(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    def call(self, X: Any) -> Any:
        return X - ops.mean(X)


class MyLinear(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    def __init__(self, in_units: int, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        normal = keras.initializers.RandomNormal(0.0, 1.0)
        self.weight = self.add_weight(shape=(in_units, units), initializer=normal, name="weight")
        self.bias = self.add_weight(shape=(units,), initializer=normal, name="bias")

    def call(self, X: Any) -> Any:
        linear = ops.matmul(X, self.weight) + self.bias
        return ops.relu(linear)


def num_gpus() -> int:
    """Keras has no device count of its own; on its torch backend the GPUs are torch's."""
    import torch

    return int(torch.cuda.device_count())


def try_gpu(i: int = 0) -> str:
    if num_gpus() >= i + 1:
        return f"cuda:{i}"
    return "cpu"


def try_all_gpus() -> list[str]:
    devices = [f"cuda:{i}" for i in range(num_gpus())]
    return devices if devices else ["cpu"]
