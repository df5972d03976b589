"""Mutant reference backends: the clauses that need accelerators (simulated here), and behaviours shared with torch.

Each breaks one behaviour the way real frameworks and user code do;
``target`` names the clause that must catch it (see tests/test_killmatrix.py).
They are grouped by the chapter section of their target (4.1 to 4.5), as in
tests/mutants/torch_mutants.py, whose docstring says what a ``region`` means;
most break a device behaviour (4.5), which only the reference simulates here.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

import reference
from conformance.backends.reference import ReferenceBackend
from reference import chapter, nn
from reference.nn import functional as F
from tests.mutants import devices, loads, regions, ties


def _chapter(**overrides: Any) -> types.SimpleNamespace:
    names = {name: getattr(chapter, name) for name in dir(chapter) if not name.startswith("_")}
    return types.SimpleNamespace(**{**names, **overrides})


# --- 4.1 Layers and blocks ------------------------------------------------------------------------


class RankThreeScrambled(regions.RankThreeScrambled, ReferenceBackend):
    """A forward on a rank-3 input mixes up its two leading dimensions (a reshape where a permute belonged)."""


class LargeBatchTailDropped(regions.LargeBatchTailDropped, ReferenceBackend):
    """A forward on more than 8 rows, not a multiple of 8, leaves the last rows' outputs at zero."""


class HalfLinearDropsBias(regions.HalfLinearDropsBias, ReferenceBackend):
    """A forward in float16 leaves out every linear layer's bias."""


class HalfBiasGradientDropped(regions.HalfBiasGradientDropped, ReferenceBackend):
    """A backward in float16 leaves every bias gradient at zero."""


# --- 4.2 Parameter management ---------------------------------------------------------------------


class ConversionUntiesModules(loads.ConversionUntiesModules, ReferenceBackend):
    """module.to(dtype) converts a module registered twice into a copy at its later places (ties lost)."""


def _copy_tie(owner: Any, user: Any) -> None:
    user.weight = nn.Parameter(owner.weight.detach().clone())


class TieParamByCopy(ReferenceBackend):
    """b.weight = a.weight done as b.weight = Parameter(a.weight.detach().clone()): equal values, two tensors."""

    target = "TIE-PARAM-IDENTITY"
    tie = staticmethod(_copy_tie)


class _TwoUsesLinear(nn.Linear):
    def forward(self, input: Any) -> Any:
        return F.linear(input, ties.weight_seen_by(self), self.bias)


class _TwoUsesMyLinear(chapter.MyLinear):
    def forward(self, X: Any) -> Any:
        return F.relu(X @ ties.weight_seen_by(self) + self.bias)


class GradOfFirstTwoUses(ties.UsesPerPass, ReferenceBackend):
    """A weight shared by a Linear and a MyLinear gets the gradient of its first two uses only (a third is dropped)."""

    linear_class = _TwoUsesLinear
    blocks = _chapter(MyLinear=_TwoUsesMyLinear)


class LargeConstantWrapsInt32(regions.LargeConstantWrapsInt32, ReferenceBackend):
    """``constant_`` with an integral value of magnitude 2**31 or more stores it wrapped to int32."""


class HalfNormalTruncates(regions.HalfNormalTruncates, ReferenceBackend):
    """``normal_`` on a float16 or bfloat16 tensor rounds its samples toward zero."""


class ZeroStdFallsBackToOne(regions.ZeroStdFallsBackToOne, ReferenceBackend):
    """``normal_(w, mean, std=0)`` draws with std 1."""


class NormalArgumentsInFloat32(regions.NormalArgumentsInFloat32, ReferenceBackend):
    """``normal_`` keeps ``mean`` and ``std`` as float32, whatever the tensor's dtype."""


class ConversionBackRestoresOriginal(regions.ConversionBackRestoresOriginal, ReferenceBackend):
    """Converting a module back to the dtype it was built in restores the values it had then."""


class StateDictMemoizesContainers(regions.StateDictMemoizesContainers, ReferenceBackend):
    """``state_dict()`` gives a container met a second time no keys at its second path."""


class NestedReLUCallsMerged(regions.NestedReLUCallsMerged, ReferenceBackend):
    """A ReLU met again in one forward, either call inside a nested container, gives its first call's output."""


# --- 4.3 Custom layers ----------------------------------------------------------------------------


class _HostLazyLinear(nn.LazyLinear):
    def _materialize(self, in_features: int) -> None:
        super()._materialize(in_features)
        for name, param in list(self._parameters.items()):
            if param is not None:
                self._parameters[name] = nn.Parameter(param.detach().to("cpu"))


class LazyMaterializesOnHost(ReferenceBackend):
    """A lazy layer creates its parameters on the CPU whatever the module's device."""

    target = "LAZY-TO-DEVICE"
    lazy_linear_class = _HostLazyLinear


class OneRowAcceptsWrongWidth(regions.OneRowAcceptsWrongWidth, ReferenceBackend):
    """A materialized linear layer called with a one-row batch of another width pads or cuts it instead of raising."""


# --- 4.4 File I/O ---------------------------------------------------------------------------------


class RankBlindLoad(loads.RankBlindLoad, ReferenceBackend):
    """A tensor with the parameter's element count loads whatever its rank (reshaped: 0-d into (1,))."""


class SharedBufferLoad(loads.SharedBufferLoad, ReferenceBackend):
    """Loading makes each parameter share the source tensor's buffer instead of copying into its own."""


class RetypingLoad(loads.RetypingLoad, ReferenceBackend):
    """Loading a tensor of another float dtype retypes the parameter to it (tinygrad 0.14's load)."""


class RefusesOtherDtype(loads.RefusesOtherDtype, ReferenceBackend):
    """Loading refuses a state dict of another float dtype (conforming, but not the SHOULD's cast)."""


class SilentlyStringifiedKeys(loads.FlattensContainers, ReferenceBackend):
    """Declares no container-keys, then saves int keys as strings and tuples as lists instead of refusing."""

    target = "IO-CONTAINER-KINDS"
    capabilities = ReferenceBackend.capabilities - {"container-keys"}


class SaveIgnoresStorageOffset(regions.SaveIgnoresStorageOffset, ReferenceBackend):
    """``save`` of a view writes its storage from offset 0, dense in the view's dimension order."""


class LoadIgnoresStorageOffset(regions.LoadIgnoresStorageOffset, ReferenceBackend):
    """``load_state_dict`` copies each source view from the start of its storage, dense in its dimension order."""


class LaterViewSavedFromStorageStart(regions.LaterViewSavedFromStorageStart, ReferenceBackend):
    """A view saved in a list after another view of its storage is written from the storage's start."""


# --- 4.5 GPUs (simulated accelerators) ------------------------------------------------------------


class CurrentDeviceIsLast(ReferenceBackend):
    """The unindexed accelerator resolves to the last device instead of index 0."""

    target = "DEV-UNINDEXED-IS-ZERO"

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        if device == "sim":
            device = f"sim:{len(self.accelerators()) - 1}"
        return super().tensor(array, device, dtype)


class IntegersStayOnHost(devices.IntegersStayOnHost, ReferenceBackend):
    """Integer and boolean tensors are created on the CPU whatever device is asked for."""


class SilentCrossDeviceCopy(devices.SilentCrossDeviceCopy, ReferenceBackend):
    """Adding tensors on two devices copies the second operand over instead of raising."""


class NoScalarPromotion(ReferenceBackend):
    """A 0-d CPU tensor is refused next to an accelerator tensor."""

    target = "DEV-SCALAR-PROMOTION"

    def add(self, a: Any, b: Any) -> Any:
        if a.device != b.device:
            raise reference.DeviceMismatchError(f"operands on {a.device} and {b.device}")
        return a + b


class NarrowingTransfer(ReferenceBackend):
    """Copies to and from an accelerator pass float64 values through float32 (no fp64 on the device)."""

    target = "DEV-COPY-ROUNDTRIP"

    def to_device(self, tensor: Any, device: str) -> Any:
        moved = tensor.to(device)
        if moved.dtype == np.float64:
            rounded = moved.detach().cpu().numpy().astype(np.float32).astype(np.float64)
            return reference.tensor(rounded, device=device)
        return moved


class CopiesLandOnDeviceZero(ReferenceBackend):
    """A copy from one accelerator to another lands on accelerator 0 (DEV-COPY-ROUNDTRIP hops between
    accelerators and checks each copy's device; DEV-MULTI-DEVICE, which depends on it, is then blocked)."""

    target = "DEV-COPY-ROUNDTRIP"

    def to_device(self, tensor: Any, device: str) -> Any:
        if str(tensor.device).startswith("sim") and device.startswith("sim"):
            device = "sim:0"
        return tensor.to(device)


class SumLandsOnDeviceZero(ReferenceBackend):
    """Adding two tensors that live on a second accelerator gives a result on accelerator 0."""

    target = "DEV-MULTI-DEVICE"

    def add(self, a: Any, b: Any) -> Any:
        total = super().add(a, b)
        if str(a.device).startswith("sim") and str(a.device) != "sim:0" and str(a.device) == str(b.device):
            return total.to("sim:0")
        return total


class BuffersLeftBehind(devices.BuffersLeftBehind, ReferenceBackend):
    """module.to(device) moves parameters but leaves buffers where they were."""


class ToReplacesParameters(devices.ToReplacesParameters, ReferenceBackend):
    """module.to(device) puts new Parameter objects in place of the old ones."""


class _CachedConstantFixedHiddenMLP(chapter.FixedHiddenMLP):
    def __init__(self) -> None:
        super().__init__()
        self.cached = self.rand_weight  # a plain attribute: stays behind on .to()

    def forward(self, X: Any) -> Any:
        X = self.linear(X)
        X = reference.relu(reference.mm(X, self.cached) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class CachedConstant(ReferenceBackend):
    """FixedHiddenMLP computes with a copy of its constant cached as a plain attribute."""

    target = "DEV-CONSTANT-FOLLOWS"
    blocks = _chapter(FixedHiddenMLP=_CachedConstantFixedHiddenMLP)


class OutputsToHost(devices.OutputsToHost, ReferenceBackend):
    """Forward returns its output on the CPU whatever the module's device."""


class GradientsOnHost(devices.GradientsOnHost, ReferenceBackend):
    """Gradients are kept on the CPU whatever the parameters' device."""


class _HalfPrecisionOnDevice(nn.Linear):
    def forward(self, input: Any) -> Any:
        weight = self.weight
        if str(input.device) != "cpu":  # the device kernel rounds weights to float16
            host = weight.detach().cpu().numpy()
            rounded = reference.tensor(host.astype(np.float16).astype(host.dtype), device=weight.device)
            weight = weight + (rounded - weight).detach()
        return F.linear(input, weight, self.bias)


class HalfPrecisionDeviceKernel(ReferenceBackend):
    """On an accelerator, linear layers compute with float16-rounded weights (like TF32 left on)."""

    target = "DEV-PARITY"
    linear_class = _HalfPrecisionOnDevice


class IgnoresMapLocation(devices.IgnoresMapLocation, ReferenceBackend):
    """load() ignores map_location: tensors return to the device they were saved from."""


class MapsTopLevelOnly(devices.MapsTopLevelOnly, ReferenceBackend):
    """load(map_location=...) moves the file's top-level tensors only: nested ones stay on their device."""


class LoadsOnHost(devices.LoadsOnHost, ReferenceBackend):
    """load() without map_location puts every tensor on the CPU."""


class EmptyOperandSkipsDeviceCheck(regions.EmptyOperandSkipsDeviceCheck, ReferenceBackend):
    """A binary operation with an empty operand skips the device check."""


class IntegerMixCopies(regions.IntegerMixCopies, ReferenceBackend):
    """Integer and boolean tensors on two devices are added after an implicit copy."""


class SecondMoveCopiesModule(regions.SecondMoveCopiesModule, ReferenceBackend):
    """A module moved a second time comes back as a moved copy (simulated devices)."""


class AcceleratorHopRounds(regions.AcceleratorHopRounds, ReferenceBackend):
    """A float64 tensor copied from one simulated accelerator straight to another comes through float32."""


class TryAllGpusStopsAtFour(regions.TryAllGpusStopsAtFour, ReferenceBackend):
    """``try_all_gpus()`` lists at most four simulated accelerators."""


class CopyIgnoresStorageOffset(regions.CopyIgnoresStorageOffset, ReferenceBackend):
    """A host view copied to a simulated accelerator is copied from the start of its storage."""
