"""The Flax NNX backend. Importing this package imports jax and flax.

JAX fixes its device list when it starts. So that the device clauses run on
a CPU-only machine, importing this package before jax sets
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` when ``XLA_FLAGS`` is
unset: the host then has four separate JAX devices, of which the adapter
treats the first as the CPU and the other three as accelerators. Set
``XLA_FLAGS`` yourself (or import jax first) to choose otherwise; with one
host device the accelerator clauses are skipped.
"""

import os
import sys

if "XLA_FLAGS" not in os.environ and "jax" not in sys.modules:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

from conformance.backends.flax._adapter import FlaxBackend

__all__ = ["FlaxBackend"]
