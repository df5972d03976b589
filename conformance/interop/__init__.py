"""Checkpoint interop: backend A writes a safetensors file, backend B reads it (the INTEROP-* clauses).

``blockspec interop`` (:mod:`conformance.interop.command`) runs one isolated run per ordered pair and
writes one interop file; the suite is ``conformance/interop/test_interop.py``. The subject, the pair,
lives in :mod:`conformance._interop`, below both this package and the run pipeline that loads it.
"""

from __future__ import annotations

from conformance._interop import SEPARATOR, Pair, load_pair, offers_interop, split_pair

__all__ = ["SEPARATOR", "Pair", "load_pair", "offers_interop", "split_pair"]
