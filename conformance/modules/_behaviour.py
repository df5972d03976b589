"""Clauses about what forward does: registration, batch, purity, determinism, layout, placement.

Each ``check_*`` function implements one clause over one drawn example: it
takes the subject, a :class:`conformance._checks.Check` bound to the clause
and hypothesis's ``data``, and raises the check's violation (naming the
attribute at fault, observed vs expected and the fix) or a
:class:`~conformance.kit.outcomes.ClauseSkipped`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check, ClauseViolation
from conformance.kit.outcomes import not_applicable, skip
from conformance.modules import _inputs as I
from conformance.modules._inspect import global_owner, record_function_args, record_ops, seeded, unregistered
from conformance.modules._subject import ModuleSubject

if TYPE_CHECKING:
    import torch


def violation(check: Check, what: str, observed: str, expected: str, fix: str = "") -> ClauseViolation:
    return check.fail(what, observed, expected + (f" (fix: {fix})" if fix else ""))


def _raised(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def tolerance(t: torch.Tensor, reference: torch.Tensor) -> float:
    """sqrt(eps) * (1 + max|reference|) of the tensor's dtype: the bound the layout and batch clauses state."""
    import torch

    eps = torch.finfo(t.dtype).eps if t.is_floating_point() else 0.0
    top = float(reference.detach().abs().max()) if reference.numel() else 0.0
    return math.sqrt(eps) * (1.0 + top)


def _compare_close(check: Check, observed: Any, expected: Any, what: str, fix: str) -> None:
    import torch

    got, want = list(I.tensors(observed)), list(I.tensors(expected))
    if len(got) != len(want):
        raise violation(check, f"{what}: number of output tensors", str(len(got)), str(len(want)), fix)
    for (path, o), (_, e) in zip(got, want, strict=True):
        if o.shape != e.shape:
            raise violation(check, f"{what}: {path} shape", str(tuple(o.shape)), str(tuple(e.shape)), fix)
        if not o.is_floating_point():
            if not torch.equal(o.cpu(), e.cpu()):
                raise violation(check, f"{what}: {path}", "different values", "equal values", fix)
            continue
        error = (o.detach().double() - e.detach().double()).abs().nan_to_num(math.inf)
        bound = tolerance(o, e)
        if error.numel() and float(error.max()) > bound:
            raise violation(
                check,
                f"{what}: {path}",
                f"max |difference| {float(error.max()):.3g} ({int((error > bound).sum())} of {error.numel()} entries)",
                f"within {bound:.3g}",
                fix,
            )


def _compare_bitwise(check: Check, observed: Any, expected: Any, what: str, fix: str) -> None:
    got, want = list(I.tensors(observed)), list(I.tensors(expected))
    if len(got) != len(want):
        raise violation(check, f"{what}: number of output tensors", str(len(got)), str(len(want)), fix)
    for (path, o), (_, e) in zip(got, want, strict=True):
        if I.bits(o) != I.bits(e):
            diff = "different shape" if o.shape != e.shape else "different bytes"
            if o.shape == e.shape and o.is_floating_point():
                gap = float((o.detach().double() - e.detach().double()).abs().nan_to_num(math.inf).max())
                diff = f"max |difference| {gap:.3g}"
            raise violation(check, f"{what}: {path}", diff, "bitwise-equal outputs", fix)


# --- MOD-REGISTERED ---------------------------------------------------------------------------------


def check_registered(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build()
        for found in unregistered(module):
            if found.stateless:
                continue  # nothing is lost in saving, moving or switching it: MOD-HELPERS-REGISTERED
            raise violation(
                check,
                f"{found.describe()} that the module does not register",
                found.describe(),
                "registered",
                found.fix,
            )
        inputs = I.draw_inputs(data, subject)
        params = {id(p) for p in module.parameters()}
        given = {id(t) for _, t in I.input_tensors(inputs)}
        strays: list[tuple[str, torch.Tensor]] = []

        def note(op: str, t: torch.Tensor) -> None:
            base = t if t._base is None else t._base  # a view of a parameter (w.t() in a custom Function)
            stray = t.requires_grad and t.is_leaf and id(base) not in params and id(base) not in given
            if stray and all(s is not t for _, s in strays):
                strays.append((op, t))

        module.eval()
        with record_function_args(note):
            I.call(module, inputs)
    if strays:
        op, tensor = strays[0]
        owner = global_owner(module, tensor)
        where = f"module-scope {owner}" if owner else "a leaf tensor from outside the module"
        raise violation(
            check,
            f"forward used a leaf tensor that requires grad but is not a parameter of the module (in {op})",
            f"{where}, shape {tuple(tensor.shape)} ({len(strays)} such tensor(s))",
            "every trainable tensor forward uses to be a registered parameter",
            "assign the layer (or nn.Parameter) as an attribute of the module in __init__",
        )


# --- MOD-HELPERS-REGISTERED -------------------------------------------------------------------------


def check_helpers_registered(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build()
    for found in unregistered(module):
        if found.stateless:
            raise violation(
                check,
                f"{found.describe()} that the module does not register (stateless: no parameter, buffer "
                "or train/eval behaviour)",
                found.describe(),
                "registered, so that print(module), hooks, named_modules() and a later change that gives it "
                "state see it",
                found.fix,
            )


# --- MOD-ANY-BATCH ------------------------------------------------------------------------------------


def check_any_batch(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    fix = "use x.shape[0] or -1 instead of a fixed batch size in reshape/view/expand and in constants"
    with seeded(data):
        module = subject.build().eval()
        given = I.draw_inputs(data, subject, batch=subject.batch)
        full = I.batch_size(given)
        reference = I.call(module, given)
        if subject.inputs is None:
            inputs = I.draw_inputs(data, subject)
        else:
            if full is None:
                not_applicable("the inputs have no batch dimension")
            stop = data.draw(st.integers(1, full), label="sub-batch size")
            inputs = I.rows(given, 0, stop)
        batch = I.batch_size(inputs)
        try:
            output = I.call(module, inputs)
        except Exception as exc:
            raise violation(
                check,
                f"eval forward with batch size {batch} (given {full})",
                f"it raised {_raised(exc)}",
                "an output",
                fix,
            ) from None
    ref, out = list(I.tensors(reference)), list(I.tensors(output))
    if len(ref) != len(out):
        raise violation(check, f"number of output tensors at batch {batch}", str(len(out)), f"{len(ref)}", fix)
    for (path, r), (_, o) in zip(ref, out, strict=True):
        # A dimension that was the batch may follow it (LSTM's h has the batch second); any other stays.
        follows = o.dim() == r.dim() and all(
            od == rd or (rd == full and od == batch) for od, rd in zip(o.shape, r.shape, strict=True)
        )
        if not follows:
            expected = tuple(batch if rd == full else rd for rd in r.shape)
            raise violation(
                check, f"{path} shape at batch {batch} (given {full})", str(tuple(o.shape)), str(expected), fix
            )


# --- MOD-EVAL-DETERMINISTIC ---------------------------------------------------------------------------


def _state(module: torch.nn.Module) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    return {name: I.bits(t) for name, t in named}


def check_eval_deterministic(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build().eval()
        inputs = I.draw_inputs(data, subject)
        before = _state(module)
        first = I.call(module, I.clone(inputs))
        second = I.call(module, I.clone(inputs))
        after = _state(module)
    _compare_bitwise(
        check,
        second,
        first,
        "two eval-mode forwards of the same input",
        "switch randomness off in eval mode: nn.Dropout, or F.dropout(x, p, training=self.training)",
    )
    changed = [name for name in before if before[name] != after.get(name)]
    if changed:
        raise violation(
            check,
            "state after an eval-mode forward",
            f"{len(changed)} parameter/buffer value(s) changed: {', '.join(changed[:5])}",
            "no parameter or buffer changed",
            "update running statistics only when self.training, and never write parameters in forward",
        )


# --- MOD-INPUT-UNCHANGED ------------------------------------------------------------------------------


def check_input_unchanged(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    train = data.draw(st.booleans(), label="train mode")
    with seeded(data):
        module = subject.build().train(train)
        inputs = I.draw_inputs(data, subject, min_batch=2 if train else 1)
        before = [(path, t._version, I.bits(t)) for path, t in I.input_tensors(inputs)]
        I.call(module, inputs)
    mode = "train" if train else "eval"
    fix = "work on a new tensor: y = x.relu() (not x.relu_()), y = x + 1 (not x += 1), or x = x.clone() first"
    for (path, version, value), (_, t) in zip(before, I.input_tensors(inputs), strict=True):
        if I.bits(t) != value:
            raise violation(check, f"{path} after a {mode}-mode forward", "its values changed", "unchanged", fix)
        if t._version != version:
            raise violation(
                check,
                f"{path} version counter after a {mode}-mode forward",
                f"{version} -> {t._version} (written in place)",
                f"{version}",
                fix,
            )


# --- MOD-NONCONTIGUOUS --------------------------------------------------------------------------------

LAYOUTS = ("transposed", "strided")


def _relayout(t: torch.Tensor, layout: str) -> torch.Tensor:
    import torch

    if t.dim() >= 2 and layout == "transposed":
        return t.transpose(0, -1).contiguous().transpose(0, -1)
    if t.dim() == 0:
        return t
    wide = torch.zeros((*t.shape[:-1], 2 * t.shape[-1]), dtype=t.dtype, device=t.device)
    view = wide[..., ::2]
    view.copy_(t)
    return view


def check_noncontiguous(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build().eval()
        inputs = I.draw_inputs(data, subject)
        layout = data.draw(st.sampled_from(LAYOUTS), label="input layout")
        reference = I.call(module, I.clone(inputs))
        strided = I.map_tensors(inputs, lambda t: _relayout(t, layout))
        fix = "use .reshape() (or .contiguous().view()) instead of .view(), and no stride assumptions"
        try:
            output = I.call(module, strided)
        except Exception as exc:
            raise violation(
                check,
                f"eval forward of {layout} (non-contiguous) inputs",
                f"it raised {_raised(exc)}",
                "an output",
                fix,
            ) from None
    _compare_close(check, output, reference, f"outputs of {layout} inputs vs contiguous ones", fix)


# --- MOD-BATCH-INDEPENDENT ----------------------------------------------------------------------------


def check_batch_independent(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build().eval()
        inputs = I.draw_inputs(data, subject, min_batch=2)
        batch = I.batch_size(inputs)
        if batch is None or batch < 2:
            not_applicable("the inputs have no batch dimension of 2 or more")
        start = data.draw(st.integers(0, batch - 1), label="sub-batch start")
        stop = data.draw(st.integers(start + 1, min(batch, start + batch - 1)), label="sub-batch stop")
        whole = I.call(module, I.clone(inputs))
        part = I.call(module, I.rows(inputs, start, stop))
    pairs = [
        (path, p, w[start:stop])
        for (path, w), (_, p) in zip(I.tensors(whole), I.tensors(part), strict=False)
        if w.dim() > 0 and w.shape[0] == batch and p.dim() > 0 and p.shape[0] == stop - start
    ]
    if not pairs:
        not_applicable("no output has the batch as its first dimension")
    for path, p, w in pairs:
        _compare_close(
            check,
            p,
            w,
            f"{path} of rows {start}:{stop} computed alone vs within the batch of {batch}",
            "compute statistics per sample (not over dimension 0), or document the coupling",
        )


# --- MOD-DEVICE-MOVE ----------------------------------------------------------------------------------


def move_target(subject: ModuleSubject) -> str:
    """The accelerator when one is present (and not already the subject's device), else ``meta``."""
    import torch

    if torch.cuda.is_available() and not subject.device.startswith("cuda"):
        return "cuda"
    return "meta"


def _same_device_type(t: torch.Tensor, target: str) -> bool:
    return t.device.type == target.split(":")[0]


def check_device_move(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    target = move_target(subject)
    mixes: list[tuple[str, list[str]]] = []

    def note(op: str, args: list[torch.Tensor]) -> None:
        devices = sorted({str(t.device) for t in args if not (t.dim() == 0 and t.device.type == "cpu")})
        if len({d.split(":")[0] for d in devices}) > 1:
            mixes.append((op, devices))

    with seeded(data):
        module = subject.build()
        inputs = I.draw_inputs(data, subject)
        module.to(target)
        moved = I.map_tensors(inputs, lambda t: t.to(target))
        error: Exception | None = None
        output: Any = None
        module.eval()
        with record_ops(note):
            try:
                output = I.call(module, moved)
            except Exception as exc:
                error = exc
    left = [
        f"{f.path} ({f.kind} on {f.example.device})"
        for f in unregistered(module)
        if getattr(f.example, "device", None) is not None and not _same_device_type(f.example, target)
    ]
    fix = "register tensors with register_buffer, and create constants with device=x.device"
    if mixes:
        op, devices = mixes[0]
        raise violation(
            check,
            f"forward after module.to({target!r}) with inputs on {target}",
            f"{op} mixed tensors on {' and '.join(devices)}"
            + (f"; left behind: {', '.join(left)}" if left else "; a tensor created in forward without device="),
            f"every tensor on {target}",
            fix,
        )
    if error is not None:
        if target == "meta":
            skip(f"forward cannot run on the meta device for a reason that is no device mix: {_raised(error)}")
        raise violation(check, f"forward after module.to({target!r})", f"it raised {_raised(error)}", "an output", fix)
    stray = [(path, t.device) for path, t in I.tensors(output) if not _same_device_type(t, target)]
    if stray:
        raise violation(check, f"{stray[0][0]} after module.to({target!r})", f"on {stray[0][1]}", f"on {target}", fix)


# --- MOD-DTYPE-MOVE -----------------------------------------------------------------------------------

#: Conversions are how a correct module brings a constant to x.dtype; the constant's own dtype is not judged there.
_CONVERSIONS = ("aten._to_copy", "aten.to.", "aten.copy_", "aten.copy.", "aten.lift_fresh")


def check_dtype_move(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    others: list[tuple[str, str, tuple[int, ...]]] = []

    def note(op: str, args: list[torch.Tensor]) -> None:
        if op.startswith(_CONVERSIONS):
            return
        for t in args:
            if t.is_floating_point() and t.dtype != torch.float64:
                others.append((op, str(t.dtype).removeprefix("torch."), tuple(t.shape)))
                return

    casts: list[tuple[str, str]] = []  # explicit conversions of a float64 tensor to another floating dtype

    def converted(op: str, args: list[torch.Tensor], out: Any) -> None:
        narrowed = isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != torch.float64
        if narrowed and op.startswith(_CONVERSIONS) and any(t.dtype == torch.float64 for t in args):
            casts.append((op, str(out.dtype).removeprefix("torch.")))

    with seeded(data):
        module = subject.build()
        inputs = I.draw_inputs(data, subject)
        module.double()
        doubled = I.map_tensors(inputs, lambda t: t.double() if t.is_floating_point() else t)
        module.eval()
        error: Exception | None = None
        output: Any = None
        with record_ops(note, converted):
            try:
                output = I.call(module, doubled)
            except Exception as exc:
                error = exc
    left = [
        f"{f.path} ({str(f.example.dtype).removeprefix('torch.')})"
        for f in unregistered(module)
        if isinstance(f.example, torch.Tensor) and f.example.is_floating_point() and f.example.dtype != torch.float64
    ]
    fix = "register tensors with register_buffer, and create constants with dtype=x.dtype"
    if left:
        behind = f"; left behind: {', '.join(left)}"
    elif casts:
        op, dtype = casts[0]
        behind = f"; forward converts float64 to {dtype} explicitly ({op}: .to({dtype}), .{dtype}() or dtype=)"
        fix = "convert to the input's dtype (x.dtype), not to a fixed one, or document the upcast"
    else:
        behind = "; a constant created in forward without dtype="
    if others:
        op, dtype, shape = others[0]
        raise violation(
            check,
            "forward after module.double() with float64 inputs",
            f"{op} was given a {dtype} tensor of shape {shape}{behind}",
            "every floating tensor in float64",
            fix,
        )
    if error is not None:
        raise violation(
            check, "forward after module.double()", f"it raised {_raised(error)}{behind}", "a float64 output", fix
        )
    wrong = [(path, t.dtype) for path, t in I.floating(output) if t.dtype != torch.float64]
    if wrong:
        raise violation(check, f"{wrong[0][0]} after module.double()", str(wrong[0][1]), "torch.float64", fix)


# --- MOD-CHANNELS-LAST --------------------------------------------------------------------------------


def check_channels_last(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    with seeded(data):
        module = subject.build().eval()
        inputs = I.draw_inputs(data, subject)
        if not any(t.dim() == 4 for _, t in I.input_tensors(inputs)):
            not_applicable("no input is 4-D")
        reference = I.call(module, I.clone(inputs))
        fix = "use .reshape() (not .view()) on inputs and weights, and no stride assumptions: channels_last is dense"
        try:
            module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # documented, not in the stubs
            last = I.map_tensors(
                inputs, lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
            )
            output = I.call(module, last)
        except Exception as exc:
            raise violation(
                check,
                "eval forward after module.to(memory_format=torch.channels_last) of channels_last inputs",
                f"it raised {_raised(exc)}",
                "an output",
                fix,
            ) from None
    _compare_close(check, output, reference, "outputs in channels_last vs the contiguous layout", fix)
