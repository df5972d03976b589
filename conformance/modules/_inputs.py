"""Drawing a module's inputs, and taking its inputs and outputs apart.

The default inputs are float tensors of the subject's shapes with the batch
drawn around the given one; their values come from a drawn seed and a drawn
scale (finite, normal), so an example is a few labelled numbers, not
thousands of drawn floats. ``--inputs`` replaces them with the user's own
strategy or list of examples; clauses that change the batch slice dimension 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from conformance.modules._types import Inputs, ModuleTargetError, Subject

if TYPE_CHECKING:
    import torch


#: The drawn batch goes up to this many times the given one (MOD-ANY-BATCH's "twice the given one").
BATCH_FACTOR = 2

#: Scales the default input values are drawn at: small, unit and large, all well inside float16's range.
SCALES = (1.0, 0.01, 10.0)


def as_inputs(value: Any) -> Inputs:
    """An :class:`Inputs` from what an inputs source gives: Inputs, a tuple or list of args, or one value."""
    if isinstance(value, Inputs):
        return value
    if isinstance(value, tuple | list):
        return Inputs(tuple(value))
    return Inputs((value,))


def _tensor(shape: tuple[int, ...], seed: int, scale: float, subject: Subject) -> torch.Tensor:
    import torch

    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    return values.to(device=subject.device, dtype=subject.torch_dtype)


def example_inputs(subject: Subject, batch: int | None = None, seed: int = 0, scale: float = 1.0) -> Inputs:
    """One input without hypothesis: the given shapes (or ``batch``), or the first of the user's examples."""
    if subject.inputs is not None:
        source = subject.inputs
        if isinstance(source, st.SearchStrategy):
            from hypothesis import find, settings

            # The simplest example, the same on every call (no .example(): it is random and warns).
            return as_inputs(find(source, lambda _: True, settings=settings(database=None, max_examples=10)))
        examples = list(source())
        if not examples:
            raise ModuleTargetError(subject.target, "the inputs function returned no example")
        return as_inputs(examples[0])
    return Inputs(
        tuple(
            _tensor((batch or shape[0], *shape[1:]), seed + i, scale, subject)
            for i, shape in enumerate(subject.input_shapes)
        )
    )


def draw_inputs(data: st.DataObject, subject: Subject, *, min_batch: int = 1, batch: int | None = None) -> Inputs:
    """Drawn inputs: batch in ``min_batch .. 2 * given`` (or ``batch``), a seed and a scale, each labelled."""
    if subject.inputs is not None:
        source = subject.inputs
        strategy = source if isinstance(source, st.SearchStrategy) else st.sampled_from(list(source()))
        drawn = as_inputs(data.draw(strategy, label="inputs (--inputs)"))
        rows = batch_size(drawn)
        if rows is not None and rows < min_batch:
            from hypothesis import assume

            assume(False)
        return drawn
    if batch is None:
        top = max(BATCH_FACTOR * subject.batch, min_batch, 2)
        batch = data.draw(st.integers(min_batch, top), label="batch size")
    seed = data.draw(st.integers(0, 2**31 - 1), label="input values seed")
    scale = data.draw(st.sampled_from(SCALES), label="input values scale")
    return example_inputs(subject, batch=batch, seed=seed, scale=scale)


def tensors(value: Any, path: str = "output") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside ``value`` (tuples, lists, dicts, namedtuples), with its path."""
    import torch

    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors(item, f"{path}[{key!r}]")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from tensors(item, f"{path}[{index}]")


def input_tensors(inputs: Inputs) -> list[tuple[str, torch.Tensor]]:
    found = [t for i, a in enumerate(inputs.args) for t in tensors(a, f"argument {i}")]
    return found + [t for k, a in inputs.kwargs.items() for t in tensors(a, f"argument {k}")]


def map_tensors(inputs: Inputs, fn: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    """``inputs`` with every tensor replaced by ``fn(tensor)``."""
    import torch

    def walk(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return fn(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return type(value)(walk(v) for v in value)
        return value

    return Inputs(tuple(walk(a) for a in inputs.args), {k: walk(v) for k, v in inputs.kwargs.items()})


def clone(inputs: Inputs) -> Inputs:
    return map_tensors(inputs, lambda t: t.clone())


def batch_size(inputs: Inputs) -> int | None:
    """The batch: dimension 0 of the first tensor argument (None when there is no tensor)."""
    found = [t for _, t in input_tensors(inputs) if t.dim() > 0]
    return int(found[0].shape[0]) if found else None


def rows(inputs: Inputs, start: int, stop: int) -> Inputs:
    """The sub-batch ``start:stop`` (tensors whose dimension 0 is the batch are sliced, others kept)."""
    batch = batch_size(inputs)
    return map_tensors(inputs, lambda t: t[start:stop] if t.dim() > 0 and t.shape[0] == batch else t)


def call(module: Any, inputs: Inputs) -> Any:
    return module(*inputs.args, **inputs.kwargs)


def floating(value: Any) -> list[tuple[str, torch.Tensor]]:
    """The floating tensors inside ``value``."""
    return [(p, t) for p, t in tensors(value) if t.is_floating_point()]


def bits(t: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
    """Dtype, shape and bytes of a tensor (detached, on the CPU, contiguous)."""
    import torch

    cpu = t.detach().to("cpu").contiguous()
    raw = cpu.view(torch.uint8) if cpu.dim() else cpu.reshape(1).view(torch.uint8)
    return str(cpu.dtype), tuple(cpu.shape), raw.numpy().tobytes()
