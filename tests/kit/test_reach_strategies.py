"""The half-precision values the oracle computes with are the ones the framework holds (kit.reach_strategies)."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.kit.reach_strategies import to_half

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_to_half_rounds_as_torch_does(dtype: str) -> None:
    """Every boundary of float32 (both signs, largest finite, smallest normal, subnormals, zeros) and 200,000
    values across its whole exponent range round to the value torch's own conversion gives, bit for bit."""
    info = np.finfo(np.float32)
    edges = np.array(
        [info.max, info.tiny, info.smallest_subnormal, 0.0, 1.0, 2.0**31, 2.0**53, 65504, 65520, 3.3895314e38]
    )
    rng = np.random.default_rng(20261206)
    spread = rng.standard_normal(200_000) * 10.0 ** rng.uniform(-45, 38.5, 200_000)
    with np.errstate(over="ignore"):  # past float32's largest: infinities, which round to themselves
        values = np.concatenate([edges, -edges, spread]).astype(np.float32)
    ours = np.asarray(to_half(values, dtype), dtype=np.float32)
    theirs = torch.from_numpy(values).to(getattr(torch, dtype)).float().numpy()
    differ = ours.view(np.uint32) != theirs.view(np.uint32)
    assert not differ.any(), (
        f"observed to_half(.., {dtype!r}) {ours[differ][:5]} for {values[differ][:5]}; expected torch's {theirs[differ][:5]}"
    )
