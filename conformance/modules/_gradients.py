"""Clauses about gradients: every trainable parameter gets one, and each is right.

MOD-GRAD-CORRECT compares the autograd directional derivative with one-sided
finite differences, Richardson-extrapolated, on *each* side of the point:
a ReLU kink or a jump of control flow lies on at most one side of a small
step, so an example counts as a violation only when both sides disagree, and
only when every one of :data:`DIRECTIONS` random directions does. The
tolerance is ``RTOL`` times the sum of the absolute terms of the directional
derivative plus ``ATOL`` times the absolute sum of the loss's terms (float64
rounding of the loss, amplified by the step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.kit.checks import Check
from conformance.modules import _inputs as I
from conformance.modules._behaviour import violation
from conformance.modules._inspect import grad_cutting_hints, seeded
from conformance.modules._outcome import not_applicable
from conformance.modules._subject import ModuleSubject

if TYPE_CHECKING:
    import torch

#: Finite-difference step (float64), tolerance factors and directions per example.
STEP = 1e-5
RTOL = 1e-4
ATOL = 1e-6
DIRECTIONS = 3


def _weights(outputs: list[tuple[str, torch.Tensor]], seed: int) -> list[torch.Tensor]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t) for _, t in outputs]


def _loss(outputs: list[tuple[str, torch.Tensor]], weights: list[torch.Tensor]) -> torch.Tensor:
    import torch

    total = torch.zeros((), dtype=torch.float64, device=weights[0].device if weights else "cpu")
    for (_, t), w in zip(outputs, weights, strict=True):
        total = total + (t.double() * w.double()).sum()
    return total


# --- MOD-GRAD-REACHES ---------------------------------------------------------------------------------


def check_grad_reaches(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    with seeded(data) as seed:
        module = subject.build().train()
        trainable = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not trainable:
            not_applicable("the module has no trainable parameter")
        inputs = I.draw_inputs(data, subject, min_batch=2)
        outputs = I.floating(I.call(module, inputs))
        if not any(t.requires_grad for _, t in outputs):
            raise violation(
                check,
                "output of a train-mode forward",
                "no floating output requires grad",
                f"outputs that require grad ({len(trainable)} trainable parameter(s))",
                _cause(module),
            )
        live = [(p, t) for p, t in outputs if t.requires_grad]
        _loss(live, _weights(live, seed)).backward()  # type: ignore[no-untyped-call]
    cut = [name for name, p in trainable if p.grad is None]
    if cut:
        raise violation(
            check,
            "gradients after backward of a train-mode loss",
            f"{len(cut)} of {len(trainable)} trainable parameter(s) got no gradient: {', '.join(cut[:6])}",
            "a gradient (possibly zero) for every trainable parameter",
            _cause(module),
        )


def _cause(module: torch.nn.Module) -> str:
    hints = grad_cutting_hints(module)
    common = "use the parameter itself in forward, not .data or .detach(), and no torch.no_grad() around it"
    return (f"{'; '.join(hints)}: " if hints else "") + common


# --- MOD-GRAD-CORRECT ---------------------------------------------------------------------------------


def _one_side(f: Any, sign: float, base: float) -> float:
    """Richardson-extrapolated one-sided derivative along the direction, on the side ``sign``."""
    d1 = (f(sign * STEP) - base) / (sign * STEP)
    d2 = (f(sign * STEP / 2) - base) / (sign * STEP / 2)
    return float(2 * d2 - d1)


def check_grad_correct(subject: ModuleSubject, check: Check, data: st.DataObject) -> None:
    import torch

    with seeded(data) as seed:
        module = subject.build().double().eval()
        params = [(f"parameter {n}", p) for n, p in module.named_parameters() if p.requires_grad]
        drawn = I.draw_inputs(data, subject)
        inputs = I.map_tensors(drawn, lambda t: t.detach().double().requires_grad_() if t.is_floating_point() else t)
        leaves = [(p, t) for p, t in I.input_tensors(inputs) if t.requires_grad] + params
        if not leaves:
            not_applicable("neither a floating input nor a trainable parameter to differentiate")
        outputs = I.floating(I.call(module, inputs))
        if not outputs:
            not_applicable("the module has no floating output")
        weights = _weights(outputs, seed)
        loss = _loss(outputs, weights)
        if not loss.requires_grad:
            not_applicable("the output does not depend on a differentiable tensor")
        grads = torch.autograd.grad(loss, [t for _, t in leaves], allow_unused=True)
        grads = tuple(torch.zeros_like(t) if g is None else g for g, (_, t) in zip(grads, leaves, strict=True))
        generator = torch.Generator().manual_seed(seed + 1)

        def loss_at(directions: list[torch.Tensor]) -> Any:
            originals = [t.detach().clone() for _, t in params]

            def f(h: float) -> float:
                with torch.no_grad():
                    for (_, p), v, o in zip(params, directions[len(leaves) - len(params) :], originals, strict=True):
                        p.copy_(o + h * v)
                    shifted = iter(directions)
                    moved = I.map_tensors(inputs, lambda t: (t + h * next(shifted)) if t.requires_grad else t)
                    value = float(_loss(I.floating(I.call(module, moved)), weights))
                    for (_, p), o in zip(params, originals, strict=True):
                        p.copy_(o)
                return value

            return f

        def agrees(directions: list[torch.Tensor]) -> tuple[bool, float, float, float]:
            analytic = float(sum((g * v).sum() for g, v in zip(grads, directions, strict=True)))
            scale = float(sum((g * v).abs().sum() for g, v in zip(grads, directions, strict=True)))
            with torch.no_grad():
                terms = float(
                    sum((t.detach().double() * w).abs().sum() for (_, t), w in zip(outputs, weights, strict=True))
                )
            f = loss_at(directions)
            base = f(0.0)
            bound = RTOL * scale + ATOL * terms
            sides = (_one_side(f, 1.0, base), _one_side(f, -1.0, base))
            return any(abs(s - analytic) <= bound for s in sides), analytic, sides[0], bound

        def direction(only: int | None = None) -> list[torch.Tensor]:
            return [
                torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t.device)
                * (1.0 if only is None or i == only else 0.0)
                for i, (_, t) in enumerate(leaves)
            ]

        results = []
        for _ in range(DIRECTIONS):  # one agreeing direction clears the example; most stop at the first
            results.append(agrees(direction()))
            if results[-1][0]:
                return
        at_fault = [path for i, (path, _) in enumerate(leaves) if not agrees(direction(only=i))[0]]
    _, analytic, numeric, bound = results[0]
    raise violation(
        check,
        "directional derivative of a weighted output sum (float64, eval mode)",
        f"autograd {analytic:.6g}, finite differences {numeric:.6g} (bound {bound:.3g}) in all {DIRECTIONS} "
        f"directions; wrong gradient for: {', '.join(at_fault) or 'the tensors together'}",
        "agreement within the bound",
        "check the backward of every custom autograd.Function (one gradient per input, of the input's shape)",
    )
