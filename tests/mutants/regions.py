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
    # Its dimension (input rank) is in conformance.kit.reach_strategies.MORE_REACH, not yet in REACH: no region.
    region = ""

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
    # Its dimension (rows, up to 300) is MORE_REACH["wide_batch"], not yet in REACH: no region.
    region = ""

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
    # Its dimension (half-precision dtypes, half_mlps: MORE_REACH["half_width"]) is not in REACH: no region.
    region = ""

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
    # Its dimension (special initializer arguments) is MORE_REACH["init_constant"], not in REACH: no region.
    region = ""

    def init_(self, parameter: Any, scheme: str, **kwargs: float) -> None:
        value = kwargs.get("value")
        integral = value is not None and np.isfinite(value) and value == int(value)
        if scheme == "constant" and integral and value is not None and abs(value) >= 2**31:
            kwargs = {**kwargs, "value": float((int(value) + 2**31) % 2**32 - 2**31)}
        super().init_(parameter, scheme, **kwargs)


class ConversionBackRestoresOriginal(TorchLikeBackend):
    """Converting a module back to the dtype it was built in restores the values it had then (kept "master" weights).

    ``module.to(float32)`` rounds; ``.to(float64)`` afterwards must keep the
    rounded values, not bring back the unrounded ones. Right for every single
    conversion (the only one the clause made before issue 21's repeated
    conversions) and for every round trip from float32 or a half dtype.
    """

    target = "TIE-DTYPE-CONVERSION"
    # Its dimension (conversions in a row) is MORE_REACH["conversions"], not in REACH: no region.
    region = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # by id, the module held too, so no later module takes its id
        self._masters: dict[int, tuple[Any, str, dict[str, np.ndarray]]] = {}

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
    # Its dimension (moves in a row) is MORE_REACH["moves"], not in REACH: no region.
    region = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._moved: dict[int, Any] = {}  # by id, the module held too, so no later module takes its id

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
    # Its dimension (moves in a row) is MORE_REACH["moves"], not in REACH: no region.
    region = ""

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
    # Its dimension (simulated device count) is MORE_REACH["device_count"], not in REACH: no region.
    region = ""

    def try_all_gpus(self) -> list[str]:
        return super().try_all_gpus()[:4]


class HalfBiasGradientDropped(TorchLikeBackend):
    """A backward in float16 or bfloat16 leaves every bias without its gradient (zeros): a half-precision
    kernel that skips the reduction over rows.

    Right in float32 and float64, the only dtypes a gradient clause drew
    before issue 21's half-precision draws; the forward stays right.
    """

    target = "BLOCK-BACKWARD-PARAMS"
    # Its dimension (half-precision dtypes, half_mlps: MORE_REACH["half_width"]) is not in REACH: no region.
    region = ""

    def gradients(self, module: Any, x: Any, cotangent: np.ndarray) -> Any:
        grads = super().gradients(module, x, cotangent)
        if _half(x):
            for name in grads.params:
                if name.rsplit(".", 1)[-1] == "bias":
                    grads.params[name] = np.zeros_like(grads.params[name])
        return grads


def _children(backend: TorchLikeBackend, module: Any) -> list[Any]:
    return [child for _, child in backend.named_children(module)]


class StateDictMemoizesContainers(TorchLikeBackend):
    """``state_dict()`` writes each container's entries once, memoized by identity: a container met again at a
    second path adds no keys there (a traversal that memoizes sub-dicts, as one guarding against cycles would).

    A shared layer without children keeps its keys at every path, as PyTorch gives them; so every tree
    without a shared container (the only trees drawn before issue 21's shared containers) comes out right.
    """

    target = "TIE-STATE-DICT-ALIASES"
    # Its region (what is shared: a container) is a quantity of the reach audit, not a REACH dimension.
    region = ""

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
    # Its region (what is shared: a parameter-free module) is a quantity of the reach audit, not a REACH dimension.
    region = ""

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
