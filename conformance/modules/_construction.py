"""Clauses about how a module is made and switched: factory keyword arguments, and train/eval reaching it all.

The generic checks PyTorch runs on its own modules (``test_factory_kwargs`` and the train/eval part of
``test_modules.py``), for a user's module.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules._behaviour import _raised, violation
from conformance.modules._inspect import seeded
from conformance.modules._outcome import not_applicable, skip
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
