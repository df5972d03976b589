"""The Keras 3 backend, on Keras' torch backend. Importing this package imports keras and torch.

Keras picks its backend once, when it is first imported, from
``KERAS_BACKEND``. Importing this package before keras sets
``KERAS_BACKEND=torch`` when the variable is unset, because on torch:

- Keras runs eagerly: no per-shape compilation, so a verdict takes seconds
  per clause, not the minutes a JAX run compiling every drawn shape takes;
- torch is already a blockspec extra (``pip install 'blockspec[keras,torch]'``);
- devices are real torch devices (``cpu``, ``cuda:0``) and Keras' Variables
  hold ``torch.nn.Parameter`` values, so gradients and placement are observable.

Any other Keras backend (set by you, or a keras imported earlier) is refused
with an ImportError naming it: the adapter observes gradients and devices
through torch.
"""

import os
import sys

if "KERAS_BACKEND" not in os.environ and "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "torch"

from conformance.backends.keras._adapter import KerasBackend

__all__ = ["KerasBackend"]
