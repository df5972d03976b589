"""Clauses about how a module is made and switched: factory keyword arguments, and train/eval reaching it all.

The generic checks PyTorch runs on its own modules (``test_factory_kwargs`` and the train/eval part of
``test_modules.py``), for a user's module.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.kit.outcomes import not_applicable, skip
from conformance.modules._behaviour import _raised, violation
from conformance.modules._inspect import seeded
from conformance.modules._subject import ModuleSubject

if TYPE_CHECKING:
    import torch

#: Where MOD-FACTORY-KWARGS asks the factory to create everything: no memory, and a dtype no default gives.
FACTORY_DEVICE = "meta"
FACTORY_DTYPE = "float64"


def _accepts_factory_kwargs(factory: object) -> bool:
    try:
        parameters = inspect.signature(factory).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return "device" in parameters and "dtype" in parameters


def _tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    params = [(f"parameter {n}", p) for n, p in module.named_parameters(remove_duplicate=False)]
    return params + [(f"buffer {n}", b) for n, b in module.named_buffers(remove_duplicate=False)]


# --- MOD-FACTORY-KWARGS -------------------------------------------------------------------------------


def check_factory_kwargs(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    if not _accepts_factory_kwargs(subject.factory):
        not_applicable("the factory takes no device= and dtype= keyword arguments")
    dtype = getattr(torch, FACTORY_DTYPE)
    with seeded(data):
        try:
            factory: Any = subject.factory  # a zero-argument factory that also takes device= and dtype=
            module = factory(device=FACTORY_DEVICE, dtype=dtype)
        except Exception as exc:
            skip(f"the factory cannot build on the {FACTORY_DEVICE} device: {_raised(exc)}")
    fix = "pass device=device, dtype=dtype to every parameter, buffer and submodule created in __init__"
    wrong = [
        (name, t)
        for name, t in _tensors(module)
        if t.device.type != FACTORY_DEVICE or (t.is_floating_point() and t.dtype != dtype)
    ]
    if wrong:
        name, t = wrong[0]
        raise violation(
            check,
            f"factory(device={FACTORY_DEVICE!r}, dtype=torch.{FACTORY_DTYPE})",
            f"{name} on {t.device} in {str(t.dtype).removeprefix('torch.')} ({len(wrong)} tensor(s) elsewhere)",
            f"every parameter and buffer on {FACTORY_DEVICE}, floating ones in {FACTORY_DTYPE}",
            fix,
        )


# --- MOD-MODES-REACH ----------------------------------------------------------------------------------


def check_modes_reach(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build()
    fix = "an overridden train(mode) must set self.training = mode and call train(mode) on every child (super().train(mode))"
    for mode in (False, True, False):
        returned = module.train(mode)
        stale = [name or "self" for name, m in module.named_modules() if m.training != mode]
        if stale:
            raise violation(
                check,
                f"training flags after module.{'train()' if mode else 'eval()'}",
                f"{len(stale)} module(s) still in {'eval' if mode else 'train'} mode: {', '.join(stale[:5])}",
                f"every module in {'train' if mode else 'eval'} mode",
                fix,
            )
        if returned is not module:
            raise violation(check, f"module.train({mode})", f"returned {type(returned).__name__}", "the module", fix)


# --- MOD-META-INIT ------------------------------------------------------------------------------------

#: Where MOD-META-INIT builds the module before materializing it on the subject's device.
META_DEVICE = "meta"
#: What to_empty's uninitialized floating tensors are filled with, so that one no reset leaves unset shows.
UNSET = float("nan")


def _accepts_device(factory: object) -> str:
    """``named`` when the signature names device=, ``maybe`` when it takes **kwargs (nn.GRU), else empty."""
    try:
        parameters = inspect.signature(factory).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if "device" in parameters:
        return "named"
    return "maybe" if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()) else ""


def _reset(module: torch.nn.Module) -> list[str]:
    """Call reset_parameters() of every module in the tree that has one (else torch's _reset_parameters()).

    ``_reset_parameters`` is the name torch.nn.MultiheadAttention and torch.nn.Transformer use; the names of
    the modules reset are returned.
    """
    reset = []
    for name, m in module.named_modules():
        method = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
        if callable(method):
            method()
            reset.append(name or "self")
    return reset


def check_meta_init(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    from conformance.modules import _inputs as I
    from conformance.modules._subject import _has_lazy

    accepts = _accepts_device(subject.factory)
    if not accepts:
        not_applicable("the factory takes no device= keyword argument")
    with seeded(data):
        reference = subject.build()
        if _has_lazy(reference):
            not_applicable("a lazy module is materialized by its first forward, not by reset_parameters()")
        try:
            factory: Any = subject.factory  # a zero-argument factory that also takes device=
            module = factory(device=META_DEVICE)
        except TypeError as exc:
            if accepts == "maybe" and "device" in str(exc):
                not_applicable(f"the factory takes no device= keyword argument (through **kwargs: {_raised(exc)})")
            skip(f"the factory cannot build on the {META_DEVICE} device: {_raised(exc)}")
        except Exception as exc:
            skip(f"the factory cannot build on the {META_DEVICE} device: {_raised(exc)}")
        fix = (
            "initialize every parameter and buffer in a reset_parameters() method (called from __init__), "
            "as torch.nn's layers do, not only in __init__"
        )
        module.to_empty(device=subject.device)
        module.to(dtype=subject.torch_dtype)
        with torch.no_grad():
            for _, t in _tensors(module):
                if t.is_floating_point() or t.is_complex():
                    t.fill_(UNSET)
        try:
            with torch.no_grad():
                _reset(module)
        except Exception as exc:
            raise violation(
                check, "reset_parameters() after to_empty()", f"it raised {_raised(exc)}", "the module reset", fix
            ) from None
        wrong = [name for name, t in _tensors(module) if t.device.type != torch.device(subject.device).type]
        unset = [
            name
            for name, t in _tensors(module)
            if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t).all())
        ]
        if wrong or unset:
            what = f"on {wrong[0]}'s device" if wrong else ""
            raise violation(
                check,
                f"parameters and buffers after factory(device={META_DEVICE!r}), to_empty(device={subject.device!r}) "
                "and reset_parameters()",
                f"{len(unset)} not initialized by any reset (still NaN): {', '.join(unset[:5])}"
                if unset
                else f"{len(wrong)} not on {subject.device} {what}: {', '.join(wrong[:5])}",
                f"every parameter and buffer on {subject.device}, initialized",
                fix,
            )
        inputs = I.draw_inputs(data, subject)
        module.eval()
        reference.eval()
        try:
            with torch.no_grad():
                output = I.call(module, I.clone(inputs))
        except Exception as exc:
            raise violation(
                check, "eval forward of the materialized module", f"it raised {_raised(exc)}", "an output", fix
            ) from None
        with torch.no_grad():
            expected = I.call(reference, I.clone(inputs))
    got, want = list(I.tensors(output)), list(I.tensors(expected))
    shapes = [tuple(t.shape) for _, t in got]
    if shapes != [tuple(t.shape) for _, t in want]:
        raise violation(
            check,
            "output shapes of the materialized module",
            str(shapes),
            f"{[tuple(t.shape) for _, t in want]}, those of the module built directly",
            fix,
        )
    bad = [p for p, t in got if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all())]
    if bad:
        raise violation(check, f"{bad[0]} of the materialized module", "non-finite values", "finite values", fix)


# --- informational: do outputs differ between train() and eval()? --------------------------------------
