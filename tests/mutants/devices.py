"""Device mutants written once for every PyTorch-shaped backend (torch and the reference).

Each class here breaks one device behaviour through the TorchLikeBackend API
alone. A mutant module binds it to a backend by subclassing it together with
that backend (``class X(devices.X, ReferenceBackend)``), so the kill matrix
finds the bound class there; this module is not a ``*_mutants.py`` module and
holds no mutant of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from conformance._protocol import Gradients
from conformance.backends._torchlike import TorchLikeBackend


class IntegersStayOnHost(TorchLikeBackend):
    """Integer and boolean tensors are created on the CPU whatever device is asked for."""

    target = "DEV-TENSOR-PLACEMENT"

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        if (dtype or str(array.dtype)).startswith(("int", "uint", "bool")):  # by name: numpy has no bfloat16
            device = None
        return super().tensor(array, device, dtype)


class SilentCrossDeviceCopy(TorchLikeBackend):
    """Adding tensors on two devices copies the second operand over instead of raising."""

    target = "DEV-MIXED-RAISES"

    def add(self, a: Any, b: Any) -> Any:
        return a + b.to(a.device)


class BuffersLeftBehind(TorchLikeBackend):
    """module.to(device) moves parameters but leaves buffers where they were."""

    target = "DEV-MODULE-TO"

    def module_to(self, module: Any, device: str) -> Any:
        kept = [(m, dict(m._buffers)) for m in module.modules()]
        module.to(device)
        for m, buffers in kept:
            m._buffers.update(buffers)
        return module


class ToReplacesParameters(TorchLikeBackend):
    """module.to(device) puts new Parameter objects in place of the old ones."""

    target = "DEV-MODULE-TO-IDENTITY"

    def module_to(self, module: Any, device: str) -> Any:
        for m in module.modules():
            for name, param in list(m._parameters.items()):
                if param is not None and not isinstance(param, self.nn.UninitializedParameter):
                    m._parameters[name] = self.nn.Parameter(param.detach().to(device))
        return module.to(device)


class OutputsToHost(TorchLikeBackend):
    """Forward returns its output on the CPU whatever the module's device."""

    target = "DEV-OUTPUT-ON-DEVICE"

    def forward(self, module: Any, x: Any) -> Any:
        return module(x).to("cpu")


class GradientsOnHost(TorchLikeBackend):
    """Gradients are reported from host copies, not from the parameters' device."""

    target = "DEV-GRAD-ON-DEVICE"

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Gradients:
        grads = super().gradients(module, x, cotangent)
        return Gradients(grads.input, grads.params, dict.fromkeys(grads.devices, "cpu"))


class IgnoresMapLocation(TorchLikeBackend):
    """load() ignores map_location: tensors return to the device they were saved from."""

    target = "DEV-CHECKPOINT-TO-CPU"

    def load(self, path: Path, map_location: str | None = None) -> Any:
        return super().load(path)


class MapsTopLevelOnly(TorchLikeBackend):
    """load(map_location=...) moves the file's top-level tensors only: nested ones stay where they were saved."""

    target = "DEV-CHECKPOINT-TO-CPU"

    def load(self, path: Path, map_location: str | None = None) -> Any:
        loaded = super().load(path)
        if map_location is None:
            return loaded
        if isinstance(loaded, dict):
            return {k: v if isinstance(v, (dict, list, tuple)) else v.to(map_location) for k, v in loaded.items()}
        if isinstance(loaded, (list, tuple)):
            return type(loaded)(v if isinstance(v, (dict, list, tuple)) else v.to(map_location) for v in loaded)
        return loaded.to(map_location)


class LoadsOnHost(TorchLikeBackend):
    """load() without map_location puts every tensor on the CPU."""

    target = "DEV-CHECKPOINT-HOME"

    def load(self, path: Path, map_location: str | None = None) -> Any:
        return super().load(path, map_location or "cpu")
