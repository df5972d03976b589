"""The Flax NNX backend. Importing this package imports jax and flax.

JAX reads ``XLA_FLAGS`` once, when it starts. Importing this package before
jax, with ``XLA_FLAGS`` unset, sets it to :data:`XLA_FLAGS`:

- ``--xla_force_host_platform_device_count=4``: so that the device clauses
  run on a CPU-only machine, the host has four separate JAX devices, of which
  the adapter treats the first as the CPU and the other three as
  accelerators;
- ``--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false``:
  the suite runs thousands of tiny programs (each eager op, per shape and
  device) once or a few times each, so XLA's time goes into compiling, not
  running, them. These compile the same operations with less optimization
  (no fast-math either way: the results are the ones the optimized code
  gives, within the suite's rounding bounds); on the idle 2-core machine they
  took the ci verdict from 116 s to 85 s (the same verdicts), back to back.

Set ``XLA_FLAGS`` yourself (or import jax first) to choose otherwise: the
adapter then adds nothing, and with one host device the accelerator clauses
are skipped. The run's environment records the flags it ran with.
"""

import os
import sys

#: What importing this package sets ``XLA_FLAGS`` to when it is unset (see above).
XLA_FLAGS = (
    "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
)

if "XLA_FLAGS" not in os.environ and "jax" not in sys.modules:
    os.environ["XLA_FLAGS"] = XLA_FLAGS

from conformance.backends.flax._adapter import FlaxBackend  # noqa: E402

__all__ = ["XLA_FLAGS", "FlaxBackend"]
