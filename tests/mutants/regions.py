"""Reach mutants written once for every PyTorch-shaped backend (torch and the reference), issue 21.

Each class here is wrong only in a region of the draws that the suite once
left out: a one-row batch where a test always used two rows, an input of
rank 3 where every input was a matrix. A mutant module binds it to a backend
by subclassing it together with that backend (``class X(regions.X,
TorchBackend)``); this module is not a ``*_mutants.py`` module and holds no
mutant of its own. The record of each one surviving the suite before its
region was drawn, and being caught after, is in docs/reach.md.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from conformance.backends._torchlike import TorchLikeBackend


def _first_in_width(module: Any) -> int | None:
    """The ``in_features`` of the first materialized linear layer in ``module`` (a MyLinear has none), if any."""
    for sub in module.modules():
        width = getattr(sub, "in_features", None)
        if isinstance(width, int) and width > 0:  # torch's un-run LazyLinear says 0
            return width
    return None


class OneRowAcceptsWrongWidth(TorchLikeBackend):
    """A materialized linear layer called with a one-row batch of another width pads or cuts it instead of raising."""

    target = "LAZY-WIDTH-MISMATCH"
    region = "batch"

    def forward(self, module: Any, x: Any) -> Any:
        width = _first_in_width(module)
        if width is not None and x.dim() == 2 and x.shape[0] == 1 and x.shape[1] != width:
            row = self.to_numpy(x)
            fitted = np.zeros((1, width), dtype=row.dtype)
            keep = min(width, row.shape[1])
            fitted[:, :keep] = row[:, :keep]
            x = self.tensor(fitted, self.device_of(x))
        return super().forward(module, x)


class RankThreeScrambled(TorchLikeBackend):
    """A forward on a rank-3 input runs on the input with its two leading dimensions swapped, then swaps back wrongly.

    The leading dimensions are treated as one flattened batch in the wrong
    order (a reshape where a permute belonged): right for every matrix, and
    for every rank-3 input with a leading dimension of 1, and for layers without weights.
    """

    target = "BLOCK-FORWARD-VALUE"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "input_rank"

    def forward(self, module: Any, x: Any) -> Any:
        if x.dim() == 3 and x.shape[0] > 1 and x.shape[1] > 1 and _first_in_width(module) is not None:
            array = self.to_numpy(x)
            a, b, width = array.shape
            swapped = self.tensor(
                np.ascontiguousarray(array.transpose(1, 0, 2)).reshape(a * b, width), self.device_of(x)
            )
            out = self.to_numpy(super().forward(module, swapped))
            return self.tensor(out.reshape(a, b, out.shape[-1]), self.device_of(x))
        return super().forward(module, x)


class LargeBatchTailDropped(TorchLikeBackend):
    """A forward on more than 8 rows, not a multiple of 8, leaves the last rows' outputs at zero (a blocked kernel's tail).

    Right for every batch of 1 to 8 (the only batches drawn before issue 21)
    and for every multiple of 8; layers without weights are left alone.
    """

    target = "BLOCK-FORWARD-VALUE"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "wide_batch"

    def forward(self, module: Any, x: Any) -> Any:
        out = super().forward(module, x)
        rows = x.shape[0] if x.dim() >= 2 else 0
        if rows > 8 and rows % 8 and _first_in_width(module) is not None:
            array = self.to_numpy(out).copy()
            array[rows - rows % 8 :] = 0
            return self.tensor(array, self.device_of(out))
        return out


def _half(tensor: Any) -> bool:
    """Whether ``tensor`` is in a half-precision dtype (float16 or bfloat16), by its dtype's name."""
    return str(tensor.dtype).rsplit(".", 1)[-1] in ("float16", "bfloat16")


class HalfLinearDropsBias(TorchLikeBackend):
    """A forward in float16 or bfloat16 leaves out every linear layer's bias (a half-precision kernel without the add).

    Right in float32 and float64, the only dtypes a forward, initializer or
    gradient clause drew before issue 21's half-precision draws.
    """

    target = "BLOCK-FORWARD-VALUE"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "half_width"

    def forward(self, module: Any, x: Any) -> Any:
        if not _half(x):
            return super().forward(module, x)
        saved = []
        with self.fw.no_grad():
            for sub in module.modules():
                bias = getattr(sub, "bias", None)
                if bias is not None and hasattr(sub, "in_features"):
                    value = self.to_numpy(bias)
                    saved.append((bias, value))
                    bias.copy_(self._like(np.zeros_like(value), bias))
        try:
            return super().forward(module, x)
        finally:
            with self.fw.no_grad():
                for bias, value in saved:
                    bias.copy_(self._like(value, bias))


class LargeConstantWrapsInt32(TorchLikeBackend):
    """``constant_`` with an integral value of magnitude 2**31 or more stores it wrapped to int32 (an integer fast path).

    Right for every value within +-1e6 (the only constants drawn before
    issue 21's special values) and for every value that is not integral.
    """

    target = "INIT-CONSTANT"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "init_constant"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        value = kwargs.get("value")
        integral = value is not None and np.isfinite(value) and value == int(value)
        if scheme == "constant" and integral and value is not None and abs(value) >= 2**31:
            kwargs = {**kwargs, "value": float((int(value) + 2**31) % 2**32 - 2**31)}
        super().init_(parameter, scheme, **kwargs)


def _toward_zero(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` (float64) rounded toward zero to ``dtype`` (float16, or bfloat16 held in float32)."""
    if dtype == "bfloat16":
        bits = values.astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
        return bits.view(np.float32)
    nearest = values.astype(np.float16)
    away = np.abs(nearest.astype(np.float64)) > np.abs(values)
    return np.where(away, np.nextafter(nearest, np.float16(0)), nearest)


class HalfNormalTruncates(TorchLikeBackend):
    """``normal_`` on a float16 or bfloat16 tensor rounds its samples toward zero (a truncating conversion).

    Right in float32 and float64, the only dtypes INIT-NORMAL drew before
    issue 21 compared half-precision samples with the rounded normal.
    """

    target = "INIT-NORMAL"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "init_normal"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        super().init_(parameter, scheme, **kwargs)
        if scheme == "normal" and _half(parameter):
            dtype = str(parameter.dtype).rsplit(".", 1)[-1]
            rng = np.random.default_rng(abs(hash((kwargs["mean"], kwargs["std"], tuple(parameter.shape)))))
            samples = rng.standard_normal(tuple(parameter.shape)) * kwargs["std"] + kwargs["mean"]
            self.assign(parameter, _toward_zero(samples, dtype))


class ZeroStdFallsBackToOne(TorchLikeBackend):
    """``normal_(w, mean, std=0)`` draws with std 1 (``std or 1.0``: a default that takes 0 for "not given").

    Right for every std the clause drew before issue 21 (0.01, 1, 2.5).
    """

    target = "INIT-NORMAL"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "init_normal"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        if scheme == "normal":
            kwargs = {**kwargs, "std": kwargs["std"] or 1.0}
        super().init_(parameter, scheme, **kwargs)


class NormalArgumentsInFloat32(TorchLikeBackend):
    """``normal_`` keeps ``mean`` and ``std`` as float32 (a kernel's float attributes), whatever the tensor's dtype.

    Right for every argument float32 holds: ordinary ones, and all of them on
    a float32 tensor. A float64 tensor given a mean or std past float32's range
    (or below its smallest subnormal) gets inf, NaN or a point mass.
    """

    target = "INIT-NORMAL-ARGUMENTS"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "init_normal"

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        if scheme == "normal":
            with np.errstate(over="ignore"):
                kwargs = {k: float(np.float32(v)) for k, v in kwargs.items()}
        super().init_(parameter, scheme, **kwargs)


class EmptyOperandSkipsDeviceCheck(TorchLikeBackend):
    """A binary operation with an empty operand returns early, before the device check: no error, an empty result.

    Right for every tensor with elements (the only ones DEV-MIXED-RAISES drew
    before issue 21: float32 ones of sizes 1 to 4).
    """

    target = "DEV-MIXED-RAISES"
    region = "elements"

    def add(self, a: Any, b: Any) -> Any:
        if a.numel() == 0 or b.numel() == 0:
            return super().add(a, self.to_device(b, self.device_of(a)))
        return super().add(a, b)


class IntegerMixCopies(TorchLikeBackend):
    """Integer and boolean tensors on two devices are added after an implicit copy (a kernel without the check).

    Right for every float tensor, the only dtype DEV-MIXED-RAISES drew before issue 21.
    """

    target = "DEV-MIXED-RAISES"
    region = ""  # a dtype, not a dimension with a reach record

    def add(self, a: Any, b: Any) -> Any:
        if not str(a.dtype).rsplit(".", 1)[-1].startswith(("float", "bfloat", "complex")):
            return super().add(a, self.to_device(b, self.device_of(a)))
        return super().add(a, b)


class ConversionBackRestoresOriginal(TorchLikeBackend):
    """Converting a module back to the dtype it was built in restores the values it had then (kept "master" weights).

    ``module.to(float32)`` rounds; ``.to(float64)`` afterwards must keep the
    rounded values, not bring back the unrounded ones. Right for every single
    conversion (the only one the clause made before issue 21's repeated
    conversions) and for every round trip from float32 or a half dtype.
    """

    target = "TIE-DTYPE-CONVERSION"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "conversions"

    @functools.cached_property  # not made in __init__: a dunder redefined would run the whole suite on the mutant
    def _masters(self) -> dict[int, tuple[Any, str, dict[str, np.ndarray]]]:
        return {}  # by id, the module held too, so no later module takes its id

    def module_to_dtype(self, module: Any, dtype: str) -> Any:
        params = self.named_parameters(module)
        if id(module) not in self._masters and params:
            kept = {n: self.to_numpy(p) for n, p in params}
            self._masters[id(module)] = (module, self.bits(params[0][1])[0], kept)
        result = super().module_to_dtype(module, dtype)
        _, original, masters = self._masters.get(id(module), (None, "", {}))
        if dtype == original:
            with self.fw.no_grad():
                for name, param in self.named_parameters(module):
                    param.copy_(self._like(masters[name], param))
        return result


class SecondMoveCopiesModule(TorchLikeBackend):
    """A module moved a second time comes back as a moved copy: handles taken before it hold the old parameters.

    The first ``module.to(d)`` moves in place, as the clause requires; a
    later one (a move back, or on to another device) returns a deep copy.
    Right for every single move (the only one per example before issue 21's
    device routes); devices are simulated on the reference.
    """

    target = "DEV-MODULE-TO-IDENTITY"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "moves"

    @functools.cached_property  # not made in __init__ (see ConversionBackRestoresOriginal)
    def _moved(self) -> dict[int, Any]:
        return {}  # by id, the module held too, so no later module takes its id

    def module_to(self, module: Any, device: str) -> Any:
        if id(module) in self._moved:
            return super().module_to(copy.deepcopy(module), device)
        self._moved[id(module)] = module
        return super().module_to(module, device)


class AcceleratorHopRounds(TorchLikeBackend):
    """A float64 tensor copied from one accelerator straight to another comes through float32 (a peer copy
    that stages in single precision).

    Right for every copy to or from the host (the only moves of a tensor in
    the copy clauses before issue 21's device routes) and for every dtype
    but float64; devices are simulated on the reference.
    """

    target = "DEV-COPY-ROUNDTRIP"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "moves"

    def to_device(self, tensor: Any, device: str) -> Any:
        source = self.device_of(tensor)
        moved = super().to_device(tensor, device)
        hop = self.host_device not in (source, device) and source != device
        if hop and self.bits(moved)[0] == "float64":
            staged = self.to_numpy(moved).astype(np.float32).astype(np.float64)
            moved = self.tensor(staged, device, "float64")
        return moved


class TryAllGpusStopsAtFour(TorchLikeBackend):
    """``try_all_gpus()`` lists at most four accelerators (a fixed table of four).

    Right for 0 to 4 devices (the simulated counts drawn before issue 21
    stopped at 3); only a backend that sets its device count (the reference)
    is drawn past that, so it is bound for the reference alone.
    """

    target = "DEV-TRY-ALL-GPUS"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "device_count"

    def try_all_gpus(self) -> list[str]:
        return super().try_all_gpus()[:4]


class HalfBiasGradientDropped(TorchLikeBackend):
    """A backward in float16 or bfloat16 leaves every bias without its gradient (zeros): a half-precision
    kernel that skips the reduction over rows.

    Right in float32 and float64, the only dtypes a gradient clause drew
    before issue 21's half-precision draws; the forward stays right.
    """

    target = "BLOCK-BACKWARD-PARAMS"
    # A dimension of MORE_REACH (conformance.kit.reach_strategies): the kill matrix runs it at the ci profile.
    region = "half_width"

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Any:
        grads = super().gradients(module, x, cotangent)
        if _half(x):
            for name in grads.params:
                if name.rsplit(".", 1)[-1] == "bias":
                    grads.params[name] = np.zeros_like(grads.params[name])
        return grads


def _read_from_storage_start(backend: TorchLikeBackend, tensor: Any) -> Any:
    """``tensor``'s elements read as if it were dense from the start of its storage, in its own dimension order.

    Right for a contiguous tensor and for a transpose of one (its strides are
    a permutation of dense ones, at offset 0); wrong for a view at a storage
    offset (a narrow) or with a step (every other row). Anything but a
    non-empty tensor of rank 1 or more, and a reference tensor off the host,
    comes back as it is.
    """
    if not (hasattr(tensor, "dim") and hasattr(tensor, "numel")) or tensor.dim() == 0 or tensor.numel() == 0:
        return tensor
    shape = tuple(tensor.shape)
    if hasattr(tensor, "storage_offset"):  # torch: the storage itself
        strides = tuple(tensor.stride())
        order = sorted(range(len(shape)), key=lambda d: -strides[d])
        start = tensor.detach().as_strided((tensor.numel(),), (1,), 0)
        return start.reshape([shape[d] for d in order]).permute(*np.argsort(order).tolist())
    if backend.device_of(tensor) != backend.host_device:
        return tensor
    array = tensor.detach().numpy()  # the reference: a NumPy view into its storage's root array
    root = array if array.base is None else array.base
    strides = tuple(s // array.itemsize for s in array.strides)
    order = sorted(range(len(shape)), key=lambda d: -strides[d])
    flat = np.ascontiguousarray(root).reshape(-1)[: array.size]
    misread = flat.reshape([shape[d] for d in order]).transpose(np.argsort(order))
    return backend.tensor(misread, backend.host_device, str(misread.dtype))


class SaveIgnoresStorageOffset(TorchLikeBackend):
    """``save`` of a tensor writes its storage from offset 0 as if the tensor were dense there (a writer that
    takes the storage pointer and the strides' order, but neither the offset nor a step).

    Right for every contiguous tensor and every transposed view (the only
    layouts IO-TENSOR-ROUNDTRIP drew before issue 21's layouts); wrong for a
    narrowed view at a storage offset and for a view with a step.
    """

    target = "IO-TENSOR-ROUNDTRIP"
    # Its dimension (memory layout) is a drawn choice of layouts, not a range in REACH: no region.
    region = ""

    def save(self, obj: Any, path: Any) -> None:
        super().save(_read_from_storage_start(self, obj), path)


class LoadIgnoresStorageOffset(TorchLikeBackend):
    """``load_state_dict`` copies each source tensor from the start of its storage, dense in its dimension order.

    Right for every state of contiguous tensors (the only sources
    LOAD-COPIES-VALUES loaded before issue 21's layouts: another module's
    parameters); wrong for a source that is a narrowed view or a view with a step.
    """

    target = "LOAD-COPIES-VALUES"
    region = ""

    def load_state_dict(self, module: Any, state: Any, *, strict: bool) -> Any:
        misread = {key: _read_from_storage_start(self, value) for key, value in state.items()}
        return super().load_state_dict(module, misread, strict=strict)


class CopyIgnoresStorageOffset(TorchLikeBackend):
    """A copy of a host tensor to another device copies its storage from offset 0, dense in its dimension order.

    Right for every contiguous tensor (the only tensors DEV-COPY-ROUNDTRIP
    copied before issue 21's layouts) and every transposed view; wrong for a
    narrowed view and a view with a step. Devices are simulated on the reference.
    """

    target = "DEV-COPY-ROUNDTRIP"
    region = ""

    def to_device(self, tensor: Any, device: str) -> Any:
        if device != self.device_of(tensor) and self.device_of(tensor) == self.host_device:
            tensor = _read_from_storage_start(self, tensor)
        return super().to_device(tensor, device)


def _storage_key(backend: TorchLikeBackend, tensor: Any) -> int | None:
    """Where ``tensor``'s storage starts in memory (None for a reference tensor off the host)."""
    if hasattr(tensor, "untyped_storage"):  # torch
        return int(tensor.untyped_storage().data_ptr())
    if backend.device_of(tensor) != backend.host_device:
        return None
    array = tensor.detach().numpy()
    root = array if array.base is None else array.base
    return int(root.__array_interface__["data"][0])


class LaterViewSavedFromStorageStart(TorchLikeBackend):
    """``save`` of a list writes a tensor whose storage an earlier item already wrote as that storage from offset
    0, dense in its own dimension order (a writer that keeps one record per storage, without each view's offset
    and step).

    Right for a lone tensor, whatever its layout (IO-TENSOR-ROUNDTRIP), and
    for lists of distinct tensors (the only lists IO-CONTAINER-ROUNDTRIP saved
    before issue 21's views of one tensor saved together); wrong for a later
    view at an offset or with a step.
    """

    target = "IO-CONTAINER-ROUNDTRIP"
    region = ""

    def save(self, obj: Any, path: Any) -> None:
        if isinstance(obj, list):
            seen: set[int] = set()
            items = []
            for item in obj:
                key = _storage_key(self, item) if hasattr(item, "dim") else None
                items.append(_read_from_storage_start(self, item) if key in seen else item)
                if key is not None:
                    seen.add(key)
            obj = items
        super().save(obj, path)


def _children(backend: TorchLikeBackend, module: Any) -> list[Any]:
    return [child for _, child in backend.named_children(module)]


class StateDictMemoizesContainers(TorchLikeBackend):
    """``state_dict()`` writes each container's entries once, memoized by identity: a container met again at a
    second path adds no keys there (a traversal that memoizes sub-dicts, as one guarding against cycles would).

    A shared layer without children keeps its keys at every path, as PyTorch gives them; so every tree
    without a shared container (the only trees drawn before issue 21's shared containers) comes out right.
    """

    target = "TIE-STATE-DICT-ALIASES"
    # What is shared (a container) is drawn with the uses of shared modules (REACH["tie_uses"]): it runs at ci.
    region = "tie_uses"

    def state_dict(self, module: Any) -> list[tuple[str, Any]]:
        entries = super().state_dict(module)
        seen, dropped = {id(module)}, []

        def visit(node: Any, prefix: str) -> None:
            for name, child in self.named_children(node):
                path = f"{prefix}{name}."
                if _children(self, child):
                    if id(child) in seen:
                        dropped.append(path)
                        continue
                    seen.add(id(child))
                visit(child, path)

        visit(module, "")
        return [(key, value) for key, value in entries if not any(key.startswith(p) for p in dropped)]


def _parameter_free(module: Any) -> bool:
    """Whether ``module`` is a layer without parameters or children (a ReLU, a CenteredLayer)."""
    return not list(module.parameters()) and not list(module.children())


class NestedReLUCallsMerged(TorchLikeBackend):
    """A tracer that inlines each nested container into its parent's graph merges the calls of one
    parameter-free module into one node, keyed on the module rather than on its input: a ReLU met again,
    where either call sits inside a nested container, gives the output of its first call.

    Calls made by the root container itself are never merged, so a ReLU shared among the root's own
    children (the tied nets' appended ``shared, ReLU, shared``, the only shared parameter-free module
    drawn before issue 21's shared modules) computes right, as does every ReLU used once.
    """

    target = "TIE-GRAD-SUM"
    # What is shared (a parameter-free module) is drawn with the uses of shared modules (REACH["tie_uses"]): it
    # runs at ci.
    region = "tie_uses"

    @contextlib.contextmanager
    def _traced(self, module: Any) -> Iterator[None]:
        depth = [0]
        merged: dict[int, tuple[Any, bool]] = {}  # by module: its first output, and whether that call was nested
        patched = []

        def container_call(node: Any) -> Any:
            plain = functools.partial(type(node).forward, node)

            def call(X: Any) -> Any:
                depth[0] += 1
                try:
                    return plain(X)
                finally:
                    depth[0] -= 1

            return call

        def free_call(node: Any) -> Any:
            plain = functools.partial(type(node).forward, node)

            def call(X: Any) -> Any:
                nested = depth[0] > 1  # the root's own forward is depth 1
                if id(node) in merged and (nested or merged[id(node)][1]):
                    return merged[id(node)][0]
                out = plain(X)
                merged.setdefault(id(node), (out, nested))
                return out

            return call

        for sub in module.modules():
            if list(sub.children()):
                vars(sub)["forward"] = container_call(sub)
            elif _parameter_free(sub):
                vars(sub)["forward"] = free_call(sub)
            else:
                continue
            patched.append(sub)
        try:
            yield
        finally:
            for sub in patched:
                vars(sub).pop("forward", None)

    def forward(self, module: Any, x: Any) -> Any:
        with self._traced(module):
            return super().forward(module, x)

    def _backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        with self._traced(module):
            super()._backward(module, x, cotangent)
