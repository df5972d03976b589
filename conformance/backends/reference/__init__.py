"""The reference backend: blockspec's own NumPy framework. Needs no deep-learning framework."""

from conformance.backends.reference._adapter import ReferenceBackend

__all__ = ["ReferenceBackend"]
