"""The chapter's blocks, written in Flax NNX as a Flax user would write them.

Flax spells the chapter's concepts differently, and each block here says how:

- randomness is explicit: a block that draws takes ``rngs: nnx.Rngs``;
- ``nnx.Linear`` stores ``kernel`` as (in, out) and computes ``X @ kernel + bias``;
- there is no ``nn.ReLU`` module and no ``add_module``: :class:`ReLU` and
  :class:`NamedSequential` are the few lines a Flax user writes for them;
- arrays are immutable: an initializer *replaces* a Variable's value
  (``m.kernel.value = ...``); the Variable object itself stays the same;
- FixedHiddenMLP's constant is an ``nnx.Variable`` of a non-``Param`` type
  (:class:`Constant`): it is state that ``nnx.state`` lists and
  ``jax.device_put`` moves, but ``nnx.grad`` (which differentiates ``Param``
  only) never touches;
- ``try_gpu`` returns a ``jax.Device``; on a machine without accelerators the
  host's extra CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count``)
  stand in for them, see :func:`accelerators`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


class Constant(nnx.Variable[jax.Array]):
    """Non-trainable state: saved and moved with the block, never differentiated."""


class ReLU(nnx.Module):
    """``nnx.relu`` as a layer, so it can sit in a Sequential and be indexed like the chapter's ``nn.ReLU()``."""

    def __call__(self, X: jax.Array) -> jax.Array:
        return nnx.relu(X)


class MLP(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.Linear(20, 256, rngs=rngs)
        self.out = nnx.Linear(256, 10, rngs=rngs)

    def __call__(self, X: jax.Array) -> jax.Array:
        return self.out(nnx.relu(self.hidden(X)))


class FixedHiddenMLP(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.rand_weight = Constant(jax.random.uniform(rngs.params(), (20, 20)))
        self.linear = nnx.Linear(20, 20, rngs=rngs)

    def __call__(self, X: jax.Array) -> jax.Array:
        X = self.linear(X)
        X = nnx.relu(X @ self.rand_weight.value + 1)
        X = self.linear(X)  # the same layer again: its parameters are shared
        # Python control flow on values: fine eagerly and under nnx.grad (not under jit).
        while jnp.abs(X).sum() > 1:
            X /= 2
        return X.sum()


class MySequential(nnx.Module):
    """The chapter's MySequential. NNX rebuilds a module's attributes in sorted order whenever a
    transform (``nnx.grad``, ``nnx.clone``, split/merge) reconstructs it, so the order of the
    children is kept explicitly in ``_order`` (static data, part of the graph definition)."""

    def __init__(self, *args: nnx.Module) -> None:
        self._order: tuple[str, ...] = ()
        for idx, module in enumerate(args):
            self.add_module(str(idx), module)

    def add_module(self, name: str, module: nnx.Module) -> None:
        setattr(self, name, module)
        self._order = (*self._order, name)

    def __call__(self, X: jax.Array) -> jax.Array:
        for name in self._order:
            X = getattr(self, name)(X)
        return X


class NamedSequential(MySequential):
    """``nn.Sequential()`` filled with ``add_module(name, module)``: Flax has no such call, so it is written out."""


class Block(MySequential):
    """A user-written block: each child an attribute, applied in the order assigned (4.1.1)."""

    def __init__(self, children: list[tuple[str, nnx.Module]]) -> None:
        super().__init__()
        for name, child in children:
            self.add_module(name, child)


def block1(rngs: nnx.Rngs) -> nnx.Sequential:
    return nnx.Sequential(nnx.Linear(4, 8, rngs=rngs), ReLU(), nnx.Linear(8, 4, rngs=rngs), ReLU())


def block2(rngs: nnx.Rngs) -> NamedSequential:
    net = NamedSequential()
    for i in range(4):
        net.add_module(f"block {i}", block1(rngs))
    return net


def rgnet(rngs: nnx.Rngs) -> nnx.Sequential:
    return nnx.Sequential(block2(rngs), nnx.Linear(4, 1, rngs=rngs))


def tied_net(rngs: nnx.Rngs) -> nnx.Sequential:
    shared = nnx.Linear(8, 8, rngs=rngs)
    return nnx.Sequential(
        nnx.Linear(4, 8, rngs=rngs), ReLU(), shared, ReLU(), shared, ReLU(), nnx.Linear(8, 1, rngs=rngs)
    )


def _set(variable: nnx.Variable[Any], value: jax.Array) -> None:
    """Replace a Variable's value, keeping it on the device its old value was on."""
    variable.value = jax.device_put(value.astype(variable.value.dtype), variable.value.sharding)


def init_normal(m: nnx.Module, rngs: nnx.Rngs) -> None:
    if isinstance(m, nnx.Linear):
        _set(m.kernel, nnx.initializers.normal(stddev=0.01)(rngs.params(), m.kernel.value.shape))
        if m.bias is not None:
            _set(m.bias, jnp.zeros(m.bias.value.shape))


def init_constant(m: nnx.Module, rngs: nnx.Rngs) -> None:
    if isinstance(m, nnx.Linear):
        _set(m.kernel, jnp.ones(m.kernel.value.shape))
        if m.bias is not None:
            _set(m.bias, jnp.zeros(m.bias.value.shape))


def init_xavier(m: nnx.Module, rngs: nnx.Rngs) -> None:
    if isinstance(m, nnx.Linear):
        _set(m.kernel, nnx.initializers.xavier_uniform()(rngs.params(), m.kernel.value.shape))


def init_42(m: nnx.Module, rngs: nnx.Rngs) -> None:
    if isinstance(m, nnx.Linear):
        _set(m.kernel, jnp.full(m.kernel.value.shape, 42.0))


def my_init(m: nnx.Module, rngs: nnx.Rngs) -> None:
    if isinstance(m, nnx.Linear):
        w = jax.random.uniform(rngs.params(), m.kernel.value.shape, minval=-10, maxval=10)
        _set(m.kernel, w * (jnp.abs(w) >= 5))


class CenteredLayer(nnx.Module):
    def __call__(self, X: jax.Array) -> jax.Array:
        return X - X.mean()


class MyLinear(nnx.Module):
    def __init__(self, in_units: int, units: int, *, rngs: nnx.Rngs) -> None:
        self.weight = nnx.Param(jax.random.normal(rngs.params(), (in_units, units)))
        self.bias = nnx.Param(jax.random.normal(rngs.params(), (units,)))

    def __call__(self, X: jax.Array) -> jax.Array:
        linear = X @ self.weight.value + self.bias.value
        return nnx.relu(linear)


def accelerators() -> list[jax.Device]:
    """JAX's accelerators; on a CPU-only machine, the host's CPU devices after the first.

    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` gives a CPU-only
    machine N separate devices. JAX keeps arrays committed to different
    devices apart exactly as it keeps GPUs apart, so devices 1..N-1 serve as
    the chapter's "GPUs" while device 0 is the CPU.
    """
    devices = jax.devices()
    if devices[0].platform != "cpu":
        return list(devices)
    return list(jax.devices("cpu")[1:])


def try_gpu(i: int = 0) -> jax.Device:
    present = accelerators()
    if len(present) >= i + 1:
        return present[i]
    return jax.devices("cpu")[0]


def try_all_gpus() -> list[jax.Device]:
    devices = accelerators()
    return devices if devices else [jax.devices("cpu")[0]]
