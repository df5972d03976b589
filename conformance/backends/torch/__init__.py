"""The PyTorch backend. Importing this package imports torch."""

from conformance.backends.torch._adapter import TorchBackend

__all__ = ["TorchBackend"]
