"""MOD-COMPILE-PARITY: ``torch.compile(module)`` computes what the module computes, outputs and gradients.

The compiled module is made once per process (each example draws new inputs only): compiling is the cost,
and a fresh compile per example would repeat it. The backend is :data:`BACKEND` (``aot_eager``): it runs
TorchDynamo's graph capture (guards, graph breaks, Python side effects) and AOTAutograd (functionalization,
the joint forward-backward graph), where a compiled module departs from its eager self, without inductor's
code generation, which needs a C compiler and cost 38 s for a two-layer MLP on the 2-core machine this was
measured on (aot_eager: 3 s). Graph breaks are counted (informational, never a verdict) and kept in
:data:`conformance.modules._notes.NOTES` for the run's result file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.kit.outcomes import not_applicable, skip
from conformance.modules import _inputs as I
from conformance.modules._behaviour import _raised, tolerance, violation
from conformance.modules._inspect import seed_generators, seeded
from conformance.modules._notes import NOTES
from conformance.modules._subject import ModuleSubject
from conformance.modules._types import Inputs

if TYPE_CHECKING:
    import torch

#: The torch.compile backend the clause uses (see the module docstring for why not inductor).
BACKEND = "aot_eager"
#: Examples the clause draws at most, whatever the profile: each new input shape may recompile.
EXAMPLES = 3
#: The compiled module of each target in this process: (eager module, compiled module) or the reason it is not.
_COMPILED: dict[str, tuple[Any, Any] | str] = {}


def _compiled(subject: ModuleSubject) -> tuple[torch.nn.Module, Any]:
    """The subject's module (seed 0, eval mode) and its compiled twin, made once per process; skips with the reason."""
    import torch

    key = _key(subject)
    made = _COMPILED.get(key)
    if made is None:
        _COMPILED.clear()  # one compiled module at a time: a new subject starts from a clean compiler cache
        torch._dynamo.reset()
        try:
            compile_fn = torch.compile
            with torch.random.fork_rng(devices=[]):
                seed_generators(0)
                module = subject.build().eval()
            made = (module, compile_fn(module, backend=BACKEND))
        except Exception as exc:
            made = f"compiler unavailable: {_raised(exc)}"
        _COMPILED[key] = made
    if isinstance(made, str):
        skip(made)
    return made


def _compiler_failure(exc: BaseException) -> str:
    """Why the compiler, not the module, failed (the clause is then skipped), or "" for the module's own error.

    A backend that cannot build (BackendCompilerFailed, no C compiler) is "compiler unavailable"; another
    TorchDynamo or inductor error is a module the compiler cannot trace, not a departure from eager.
    """
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    if "BackendCompilerFailed" in kind or "CppCompileError" in kind or "InductorError" in kind:
        return f"compiler unavailable: {_raised(exc)}"
    if kind.startswith(("torch._dynamo", "torch._inductor")):
        return f"torch.compile cannot trace this module: {_raised(exc)}"
    return ""


def _key(subject: ModuleSubject) -> str:
    return f"{subject.target} {id(subject.factory)} {subject.dtype} {subject.device}"


def check_compile_parity(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    module, compiled = _compiled(subject)
    params = [(f"parameter {n}", p) for n, p in module.named_parameters() if p.requires_grad]
    with seeded(data) as seed:
        drawn = I.draw_inputs(data, subject)
    fix = (
        "make forward's result independent of torch.compiler.is_compiling() and of Python state the compiler "
        "captures once (globals, time, random); report a compiler bug with a minimal repro if forward is plain torch"
    )

    def run(fn: Any) -> tuple[Any, list[torch.Tensor | None], list[str]]:
        inputs = I.map_tensors(I.clone(drawn), lambda t: t.detach().requires_grad_() if t.is_floating_point() else t)
        leaves = [(p, t) for p, t in I.input_tensors(inputs) if t.requires_grad] + params
        output = I.call(fn, inputs)
        floating = [(p, t) for p, t in I.floating(output) if t.requires_grad]
        if not floating or not leaves:
            return output, [], []
        generator = torch.Generator().manual_seed(seed)
        loss = torch.zeros((), dtype=torch.float64)
        for _, t in floating:
            loss = (
                loss + (t.double() * torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.device)).sum()
            )
        grads = torch.autograd.grad(loss, [t for _, t in leaves], allow_unused=True)
        return output, list(grads), [p for p, _ in leaves]

    expected, expected_grads, names = run(module)
    try:
        observed, observed_grads, _ = run(compiled)
    except Exception as exc:
        why = _compiler_failure(exc)
        if why:
            _COMPILED[_key(subject)] = why
            skip(why)
        raise violation(
            check, f"torch.compile(module, backend={BACKEND!r}) forward", f"it raised {_raised(exc)}", "an output", fix
        ) from None
    _graph_breaks_once(subject, module, drawn)
    got, want = list(I.tensors(observed)), list(I.tensors(expected))
    if [p for p, _ in got] != [p for p, _ in want]:
        raise violation(check, "compiled outputs", f"{[p for p, _ in got]}", f"{[p for p, _ in want]}", fix)
    pairs: list[tuple[str, torch.Tensor | None, torch.Tensor | None]] = [
        (f"{p} (forward)", o, e) for (p, o), (_, e) in zip(got, want, strict=True)
    ]
    pairs += [
        (f"gradient of {n}", o, e)
        for n, o, e in zip(names, observed_grads, expected_grads, strict=True)
        if o is not None or e is not None
    ]
    if not pairs:
        not_applicable("the module gives no tensor output")
    for what, o, e in pairs:
        if o is None or e is None:
            raise violation(check, f"compiled {what}", "None" if o is None else "a tensor", "as eager", fix)
        if o.shape != e.shape or o.dtype != e.dtype:
            raise violation(
                check, f"compiled {what}", f"{tuple(o.shape)} {o.dtype}", f"{tuple(e.shape)} {e.dtype}, as eager", fix
            )
        if not o.is_floating_point():
            if not torch.equal(o.cpu(), e.cpu()):
                raise violation(check, f"compiled {what}", "different values", "the eager values", fix)
            continue
        error = (o.detach().double() - e.detach().double()).abs().nan_to_num(float("inf"))
        bound = tolerance(o, e)
        if error.numel() and float(error.max()) > bound:
            raise violation(
                check,
                f"compiled {what} (backend {BACKEND})",
                f"max |compiled - eager| {float(error.max()):.3g} ({int((error > bound).sum())} of {error.numel()} "
                "entries)",
                f"within {bound:.3g}",
                fix,
            )


def _graph_breaks_once(subject: ModuleSubject, module: torch.nn.Module, inputs: Inputs) -> None:
    import torch

    notes = NOTES.setdefault(subject.target, {})
    if "torch_compile_graph_breaks" in notes:
        return
    try:
        explained = torch._dynamo.explain(module)(*inputs.args, **inputs.kwargs)
        reasons = sorted({str(getattr(b, "reason", b)).splitlines()[0][:160] for b in explained.break_reasons})
        notes["torch_compile_graph_breaks"] = f"{explained.graph_break_count}" + (
            f" ({'; '.join(reasons[:3])})" if reasons else ""
        )
    except Exception as exc:
        notes["torch_compile_graph_breaks"] = f"not counted: {_raised(exc)}"
