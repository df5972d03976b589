"""What a check-module run finds beside its verdicts: information, never a verdict.

Whether outputs differ between ``train()`` and ``eval()``, and the graph breaks MOD-COMPILE-PARITY counted.
It sits below the clauses that record findings here, so that the subject and the helper read it without
importing them.
"""

from __future__ import annotations

from conformance.modules import _inputs as I
from conformance.modules._inspect import reads_training, seed_generators
from conformance.modules._types import Subject

#: Findings of this process, by target, recorded by the clauses that make them (graph breaks).
NOTES: dict[str, dict[str, str]] = {}


def information(subject: Subject) -> dict[str, str]:
    """Every finding on ``subject``: the train/eval comparison, and what the clauses recorded in this process."""
    return {"module_train_eval": modes_note(subject), **NOTES.get(subject.target, {})}


def modes_note(subject: Subject) -> str:
    """Whether the module's outputs differ between train() and eval() on the first example (never a verdict)."""
    import torch

    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            seed_generators(0)
            module = subject.build()
            readers = reads_training(module)
            inputs = I.example_inputs(subject)
            evaluated = I.floating(I.call(module.eval(), I.clone(inputs)))
            trained = I.floating(I.call(module.train(), I.clone(inputs)))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return f"not compared: {type(exc).__name__}: {text[0] if text else ''}"
    differ = [
        (p, float((a.double() - b.double()).abs().max()) if a.numel() else 0.0)
        for (p, a), (_, b) in zip(trained, evaluated, strict=False)
        if a.shape != b.shape or not torch.equal(a, b)
    ]
    behaviour = f"mode-dependent modules: {', '.join(readers[:5])}" if readers else "no forward reads self.training"
    if differ:
        path, gap = differ[0]
        return f"outputs differ between train() and eval() ({path}: max |difference| {gap:.3g}; {behaviour})"
    return f"outputs equal in train() and eval() ({behaviour})"
