"""Mutant PyTorch backends that break a device behaviour only a real accelerator can show.

Each targets a clause checked on an accelerator, so its verdict means
something only where CUDA is present (``needs_accelerator``):
tests/test_killmatrix.py skips them on a machine without one (the target would
be ``skipped``, not caught), and ``blockspec kill-matrix`` reports them as not
run there. On a GPU machine they show that the device clauses catch a broken
CUDA backend, not only a broken simulated device (reference_mutants.py). The
behaviours both backends break the same way are written once, in devices.py.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from conformance.backends.torch import TorchBackend, blocks
from tests.mutants import devices, regions
from tests.mutants.torch_mutants import _chapter


class _OnCuda(TorchBackend):
    """Judged only where CUDA is present (conformance._killmatrix.not_runnable_here)."""

    needs_accelerator = True


class UnindexedIsHost(_OnCuda):
    """An unindexed accelerator name ('cuda') places tensors on the CPU, the framework's default device."""

    target = "DEV-UNINDEXED-IS-ZERO"

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> torch.Tensor:
        return super().tensor(array, "cpu" if device == "cuda" else device, dtype)


class IntegersStayOnHost(devices.IntegersStayOnHost, _OnCuda):
    """Integer and boolean tensors are created on the CPU whatever device is asked for."""


class SilentCrossDeviceCopy(devices.SilentCrossDeviceCopy, _OnCuda):
    """Adding tensors on two devices copies the second operand over instead of raising."""


class NoScalarPromotion(_OnCuda):
    """A 0-d CPU tensor is refused next to a CUDA tensor."""

    target = "DEV-SCALAR-PROMOTION"

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.device != b.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but got {a.device} and {b.device}")
        return a + b


class NarrowingTransfer(_OnCuda):
    """Copies to and from CUDA pass float64 values through float32 (a device without fp64)."""

    target = "DEV-COPY-ROUNDTRIP"

    def to_device(self, tensor: torch.Tensor, device: str) -> torch.Tensor:
        if tensor.dtype is torch.float64:
            return tensor.to(torch.float32).to(device).to(torch.float64)
        return tensor.to(device)


class BuffersLeftBehind(devices.BuffersLeftBehind, _OnCuda):
    """module.to(device) moves parameters but leaves buffers where they were."""


class ToReplacesParameters(devices.ToReplacesParameters, _OnCuda):
    """module.to(device) puts new Parameter objects in place of the old ones."""


class _CachedConstantFixedHiddenMLP(blocks.FixedHiddenMLP):
    def __init__(self) -> None:
        super().__init__()
        self.cached = self.rand_weight  # a plain attribute, as the book writes it: stays behind on .to()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.cached) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class CachedConstant(_OnCuda):
    """FixedHiddenMLP computes with its constant held as a plain attribute (the book's code)."""

    target = "DEV-CONSTANT-FOLLOWS"
    blocks = _chapter(FixedHiddenMLP=_CachedConstantFixedHiddenMLP)


class OutputsToHost(devices.OutputsToHost, _OnCuda):
    """Forward returns its output on the CPU whatever the module's device."""


class GradientsOnHost(devices.GradientsOnHost, _OnCuda):
    """Gradients are reported from host copies, not from the parameters' device."""


class _HalfPrecisionOnDevice(nn.Linear):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if input.device.type != "cpu":  # the device kernel rounds weights to float16, like TF32 left on
            weight = weight + (weight.half().to(weight.dtype) - weight).detach()
        return F.linear(input, weight, self.bias)


class HalfPrecisionDeviceKernel(_OnCuda):
    """On CUDA, linear layers compute with float16-rounded weights."""

    target = "DEV-PARITY"
    linear_class = _HalfPrecisionOnDevice


class IgnoresMapLocation(devices.IgnoresMapLocation, _OnCuda):
    """load() ignores map_location: tensors return to the device they were saved from."""


class LoadsOnHost(devices.LoadsOnHost, _OnCuda):
    """load() without map_location puts every tensor on the CPU."""


class SecondMoveCopiesModule(regions.SecondMoveCopiesModule, _OnCuda):
    """A module moved a second time comes back as a moved copy (judged where CUDA is present)."""


class AcceleratorHopRounds(regions.AcceleratorHopRounds, _OnCuda):
    """A float64 tensor copied from one GPU straight to another comes through float32 (judged where CUDA is)."""


class EmptyOperandSkipsDeviceCheck(regions.EmptyOperandSkipsDeviceCheck, _OnCuda):
    """A binary operation with an empty operand skips the device check (judged where CUDA is present)."""


class IntegerMixCopies(regions.IntegerMixCopies, _OnCuda):
    """Integer and boolean tensors on two GPUs or a GPU and the host are added after an implicit copy."""


class CopyIgnoresStorageOffset(regions.CopyIgnoresStorageOffset, _OnCuda):
    """A host view copied to a GPU is copied from the start of its storage (judged where CUDA is present)."""
