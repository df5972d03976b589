"""Every MOD clause states the numbers, formats and layouts its check uses: read from the code, found in the text.

A change to a step, a bound or a file format in ``conformance/modules`` that the statement in
``spec/clauses/module-contract.toml`` does not follow fails here, and the other way round.
"""

from __future__ import annotations

import math
import re

import pytest

pytest.importorskip("torch")

import torch

from conformance.modules import _behaviour as B
from conformance.modules import _compile as P
from conformance.modules import _construction as C
from conformance.modules import _gradients as G
from conformance.modules import _inputs as I
from conformance.modules import _state as S
from spec import load_catalogue

WORDS = {2: "twice", 3: "three times"}


def _text(clause: str) -> str:
    return " ".join(load_catalogue(subject="module")[clause].statement.split())


def _sci(x: float) -> str:
    """1e-05 as the statement writes it: 1e-5."""
    return f"{x:.0e}".replace("e-0", "e-")


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])", text)}


STATED: dict[str, list[str]] = {
    "MOD-GRAD-CORRECT": [
        f"h = {_sci(G.STEP)} and h/2",
        "2 D(h/2) - D(h)",
        f"within {_sci(G.RTOL)} of the sum of the absolute terms",
        f"plus {_sci(G.ATOL)} of the sum of the absolute weighted outputs",
        f"h divided by {G.RETRY_SHRINK}, up to {G.RETRIES} times",
        f"all {G.DIRECTIONS} directions disagree",
        f"bisection within {G.FAULT_CHECKS} comparisons",
        "divided by the square root of the tensor's size",
        "padding_idx of an nn.Embedding or nn.EmbeddingBag",
    ],
    "MOD-ANY-BATCH": [f"from 1 to {WORDS[I.BATCH_FACTOR]} the given one"],
    "MOD-NONCONTIGUOUS": [" or ".join(B.LAYOUTS) + " view", "sqrt(eps) * (1 + max|output|)"],
    "MOD-BATCH-INDEPENDENT": ["sqrt(eps) * (1 + max|output|)"],
    "MOD-CHANNELS-LAST": ["module.to(memory_format=torch.channels_last)", "sqrt(eps) * (1 + max|output|)"],
    "MOD-META-INIT": [
        f'device="{C.META_DEVICE}"',
        "to_empty(device=...)",
        f"filled with {C.UNSET!r}".replace("nan", "NaN"),
        "reset_parameters() of every module in the tree",
        "else _reset_parameters()",
    ],
    "MOD-GRADGRAD": [
        "with the scheme, steps, bounds, activation-pattern rule and padding_idx rule of MOD-GRAD-CORRECT",
        f"over at most {G.GRADGRAD_EXAMPLES} examples",
        "@once_differentiable",
        "a double backward torch does not implement",
    ],
    "MOD-COMPILE-PARITY": [
        f'torch.compile(module, backend="{P.BACKEND}")',
        f"The backend is {P.BACKEND}",
        "sqrt(eps) * (1 + max|eager|)",
        "compiled once per run",
        "torch._dynamo.explain",
        "skipped: compiler unavailable",
    ],
    "MOD-STATE-ROUNDTRIP": ["torch.save", "torch.load(weights_only=True)", "safetensors (save_model/load_model)"],
}


@pytest.mark.parametrize("clause", sorted(STATED))
def test_the_statement_names_what_the_check_does(clause: str) -> None:
    text = _text(clause)
    for phrase in STATED[clause]:
        assert phrase in text, f"{clause} (module, torch): observed statement {text!r}; expected {phrase!r} in it"


def test_the_gradient_statement_names_no_other_number() -> None:
    """Every number in MOD-GRAD-CORRECT's text is one of the check's (an old step left in the text fails)."""
    used = {G.STEP, G.RTOL, G.ATOL, G.RETRY_SHRINK, G.RETRIES, G.DIRECTIONS, G.FAULT_CHECKS, 2.0, 1.0}
    stray = sorted(_numbers(_text("MOD-GRAD-CORRECT")) - used)
    assert not stray, f"MOD-GRAD-CORRECT (module, torch): observed numbers {stray} in the text; expected only {used}"


def test_the_stated_tolerance_is_the_one_computed() -> None:
    for dtype in (torch.float16, torch.float32, torch.float64):
        reference = torch.tensor([-3.0, 2.0], dtype=dtype)
        expected = math.sqrt(torch.finfo(dtype).eps) * (1 + 3.0)
        observed = B.tolerance(reference, reference)
        assert observed == pytest.approx(expected), (
            f"MOD-NONCONTIGUOUS (module, torch, {dtype}): observed tolerance {observed}; expected {expected}"
        )


def test_the_stated_file_formats_are_the_ones_checked() -> None:
    text = _text("MOD-STATE-ROUNDTRIP")
    for form in S.FORMATS:
        for name in re.findall(r"[\w.]+\(?[\w=]*\)?", form):
            if name not in ("+",):
                assert name.split("(")[0] in text, (
                    f"MOD-STATE-ROUNDTRIP (module, torch): observed format {form!r}; {name!r} not in the statement"
                )
