"""The chapter's blocks, written in PaddlePaddle as a Paddle user writes them (d2l-zh's Paddle edition).

Layers subclass ``paddle.nn.Layer``; a custom layer makes its parameters with
``self.create_parameter`` and a container registers children with
``add_sublayer``. Where this differs from the book's Paddle code, and why:

- ``FixedHiddenMLP.rand_weight`` is a registered *buffer*, not a plain
  attribute: ``Layer.to(device)`` moves buffers but not plain tensor
  attributes (DEV-CONSTANT-FOLLOWS), and a persistent buffer is saved with the
  state dict (IO-STATE-DICT-CLONE).
- ``MyLinear`` calls ``self.create_parameter`` (the Layer's own method, which
  takes Paddle's default dtype) where the book calls
  ``paddle.create_parameter(..., dtype='float32')``: a float32-only layer
  could not be built in float64. Its weight is drawn from N(0, 1), the book's
  ``randn``, not Paddle's default Xavier.
- ``my_init`` writes the masked weight back with ``set_value``; the book's
  Paddle version assigns the product to a local variable and leaves the layer
  unchanged.
- ``tied_net`` reuses one ``nn.Linear`` object, exactly as the PyTorch code.

A Paddle ``nn.Linear(in, out)`` stores its weight (in, out) and computes
``X @ W + b``, the layout of the chapter's ``MyLinear``.
"""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.nn import functional as F


class MLP(nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        out: paddle.Tensor = self.out(F.relu(self.hidden(X)))
        return out


class FixedHiddenMLP(nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        # A constant, not a parameter: no gradient, never updated; a buffer, so it follows the layer.
        self.register_buffer("rand_weight", paddle.rand([20, 20]))
        self.linear = nn.Linear(20, 20)

    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        X = self.linear(X)
        X = F.relu(paddle.matmul(X, self.rand_weight) + 1)  # type: ignore[no-untyped-call]
        X = self.linear(X)  # the same layer again: its parameters are shared
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class MySequential(nn.Layer):
    def __init__(self, *layers: nn.Layer) -> None:
        super().__init__()
        for idx, layer in enumerate(layers):
            self.add_sublayer(str(idx), layer)

    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        for layer in self._sub_layers.values():
            X = layer(X)
        return X


class Block(nn.Layer):
    """A user-written block: each child an attribute, applied in the order assigned (4.1.1)."""

    def __init__(self, children: list[tuple[str, nn.Layer]]) -> None:
        super().__init__()
        self._order = [name for name, _ in children]
        for name, child in children:
            setattr(self, name, child)

    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        for name in self._order:
            X = getattr(self, name)(X)
        return X


def block1() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())


def block2() -> nn.Sequential:
    net = nn.Sequential()
    for i in range(4):
        net.add_sublayer(f"block {i}", block1())
    return net


def rgnet() -> nn.Sequential:
    return nn.Sequential(block2(), nn.Linear(4, 1))


def tied_net() -> nn.Sequential:
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))


def init_normal(m: nn.Layer) -> None:
    if isinstance(m, nn.Linear):
        nn.initializer.Normal(mean=0.0, std=0.01)(m.weight)
        if m.bias is not None:
            nn.initializer.Constant(0.0)(m.bias)


def init_constant(m: nn.Layer) -> None:
    if isinstance(m, nn.Linear):
        nn.initializer.Constant(1.0)(m.weight)
        if m.bias is not None:
            nn.initializer.Constant(0.0)(m.bias)


def init_xavier(m: nn.Layer) -> None:
    if isinstance(m, nn.Linear):
        nn.initializer.XavierUniform()(m.weight)


def init_42(m: nn.Layer) -> None:
    if isinstance(m, nn.Linear):
        nn.initializer.Constant(42.0)(m.weight)


def my_init(m: nn.Layer) -> None:
    if isinstance(m, nn.Linear):
        nn.initializer.Uniform(-10.0, 10.0)(m.weight)
        h = (paddle.abs(m.weight) >= 5).astype(m.weight.dtype)
        m.weight.set_value(m.weight * h)


class CenteredLayer(nn.Layer):
    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        return X - X.mean()


class MyLinear(nn.Layer):
    def __init__(self, in_units: int, units: int) -> None:
        super().__init__()
        self.weight = self.create_parameter(shape=[in_units, units], default_initializer=nn.initializer.Normal())
        self.bias = self.create_parameter(shape=[units], default_initializer=nn.initializer.Normal())

    def forward(self, X: paddle.Tensor) -> paddle.Tensor:
        linear = paddle.matmul(X, self.weight) + self.bias  # type: ignore[no-untyped-call]
        return F.relu(linear)


def try_gpu(i: int = 0) -> paddle.CPUPlace | paddle.CUDAPlace:
    if paddle.device.cuda.device_count() >= i + 1:
        return paddle.CUDAPlace(i)
    return paddle.CPUPlace()


def try_all_gpus() -> list[paddle.CPUPlace | paddle.CUDAPlace]:
    devices: list[paddle.CPUPlace | paddle.CUDAPlace] = [
        paddle.CUDAPlace(i) for i in range(paddle.device.cuda.device_count())
    ]
    return devices if devices else [paddle.CPUPlace()]
