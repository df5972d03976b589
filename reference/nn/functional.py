"""Stateless functions behind the layers (``F.relu(x)``, ``F.linear(x, w, b)``).

>>> import reference
>>> from reference.nn import functional as F
>>> F.relu(reference.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from .._linalg import linear
from .._ops import relu

__all__ = ["linear", "relu"]
