"""Clauses about the module's state: the state-dict round trip, deep copies, and ties."""

from __future__ import annotations

import copy
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.kit.outcomes import not_applicable
from conformance.modules import _inputs as I
from conformance.modules._behaviour import _compare_bitwise, _raised, violation
from conformance.modules._inspect import seed_generators, seeded, unregistered
from conformance.modules._subject import ModuleSubject

if TYPE_CHECKING:
    import torch


def _torch_roundtrip(module: torch.nn.Module) -> dict[str, Any]:
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # type: ignore[no-any-return]


def _load_torch(module: torch.nn.Module, fresh: torch.nn.Module) -> None:
    fresh.load_state_dict(_torch_roundtrip(module), strict=True)


def _load_safetensors(module: torch.nn.Module, fresh: torch.nn.Module) -> None:
    from safetensors.torch import load_model, save_model

    with tempfile.TemporaryDirectory(prefix="blockspec-module-") as tmp:
        path = str(Path(tmp) / "state.safetensors")
        save_model(module, path)
        load_model(fresh, path, strict=True)


FORMATS: dict[str, Callable[[Any, Any], None]] = {
    "torch.save + torch.load(weights_only=True)": _load_torch,
    "safetensors save_model + load_model": _load_safetensors,
}


def _differing_unsaved(module: torch.nn.Module, fresh: torch.nn.Module) -> list[str]:
    """Non-persistent buffers and plain tensor attributes whose values differ between the two instances."""
    names = []
    fresh_modules = dict(fresh.named_modules())
    for prefix, sub in module.named_modules():
        other = fresh_modules.get(prefix)
        if other is None:
            continue
        for name in sorted(getattr(sub, "_non_persistent_buffers_set", ())):
            a, b = sub._buffers.get(name), other._buffers.get(name)
            if a is not None and b is not None and I.bits(a) != I.bits(b):
                names.append(f"non-persistent buffer self.{prefix + '.' if prefix else ''}{name}")
    plain_fresh = {f.path: f.example for f in unregistered(fresh)}
    for found in unregistered(module):
        theirs = plain_fresh.get(found.path)
        if found.kind == "tensor" and theirs is not None and I.bits(found.example) != I.bits(theirs):
            names.append(f"plain tensor attribute {found.path}")
    return names


def check_state_roundtrip(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    form = data.draw(st.sampled_from(sorted(FORMATS)), label="file format")
    with seeded(data) as seed:
        module = subject.build().train()
        warm = I.draw_inputs(data, subject, min_batch=2)
        with torch.no_grad():
            I.call(module, warm)  # running statistics move away from their initial values
        module.eval()
        inputs = I.draw_inputs(data, subject)
        reference = I.call(module, I.clone(inputs))
        seed_generators(seed + 1)  # another initialization than the original's
        fresh = subject.build()
        try:
            FORMATS[form](module, fresh)
        except Exception as exc:
            raise violation(
                check,
                f"strict load of the state dict into a fresh instance ({form})",
                f"it raised {_raised(exc)}",
                "a strict load",
                "build the same architecture on every call of the factory, and keep every saved tensor registered",
            ) from None
        output = I.call(fresh.eval(), I.clone(inputs))
        unsaved = _differing_unsaved(module, fresh)
    fix = (
        f"{', '.join(unsaved)} differ(s) between instances: register it persistent, or make it deterministic"
        if unsaved
        else "keep every tensor forward depends on in the state dict (parameters and persistent buffers)"
    )
    _compare_bitwise(check, output, reference, f"eval outputs of a fresh instance loaded via {form}", fix)


def _storages(module: torch.nn.Module) -> dict[int, str]:
    named = [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]
    return {t.untyped_storage().data_ptr(): name for name, t in named if t.numel()}


def check_deepcopy(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data):
        module = subject.build().eval()
        inputs = I.draw_inputs(data, subject)
        reference = I.call(module, I.clone(inputs))
        try:
            twin = copy.deepcopy(module)
        except Exception as exc:
            raise violation(
                check, "copy.deepcopy(module)", f"it raised {_raised(exc)}", "a copy", "keep only copyable attributes"
            ) from None
        output = I.call(twin, I.clone(inputs))
    fix = "do not override __deepcopy__/__reduce__ to share or rebuild state; let copy.deepcopy copy every tensor"
    _compare_bitwise(check, output, reference, "eval outputs of copy.deepcopy(module)", fix)
    originals = {id(t): n for n, t in [*module.named_parameters(), *module.named_buffers()]}
    storages = _storages(module)
    for name, t in [*twin.named_parameters(remove_duplicate=False), *twin.named_buffers(remove_duplicate=False)]:
        if id(t) in originals:
            raise violation(
                check, f"{name} of the copy", f"the original's {originals[id(t)]} itself", "a new tensor", fix
            )
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        if ptr in storages:
            raise violation(
                check,
                f"{name} of the copy",
                f"shares memory with the original's {storages[ptr]}",
                "its own memory",
                fix,
            )


def tie_groups(module: torch.nn.Module) -> list[tuple[str, ...]]:
    """Names of the parameters that are one object, for every parameter registered under several names."""
    groups: dict[int, list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return [tuple(names) for names in groups.values() if len(names) > 1]


def check_ties_kept(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    with seeded(data):
        groups = tie_groups(subject.factory())  # as built, before any move
        if not groups:
            not_applicable("the module shares no parameter between submodules")
        module = subject.build()
        moved = subject.build()
        moved.to(torch.float64)
        fresh = subject.build()
        fresh.load_state_dict(_torch_roundtrip(module), strict=True)
        after = {
            f"after .to({subject.device!r}, {subject.dtype}) of a new instance": module,
            "after .to(torch.float64)": moved,
            "after copy.deepcopy": copy.deepcopy(module),
            "after a state-dict round trip into a fresh instance": fresh,
        }
    for when, other in after.items():
        params = dict(other.named_parameters(remove_duplicate=False))
        for names in groups:
            objects = {id(params[n]) for n in names if n in params}
            if len(objects) != 1 or any(n not in params for n in names):
                raise violation(
                    check,
                    f"tied parameters {', '.join(names)} {when}",
                    f"{len(objects)} distinct objects",
                    "one object",
                    "tie by assigning the same nn.Parameter (self.b.weight = self.a.weight) and do not re-create "
                    "parameters in to(), load_state_dict(assign=True) or __deepcopy__",
                )
