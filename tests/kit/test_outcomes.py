"""A clause that does not apply, or cannot be checked here, says so as data (conformance.kit.outcomes)."""

from __future__ import annotations

import pytest

from conformance.kit.outcomes import ClauseSkipped, not_applicable, skip


@pytest.mark.parametrize(("end", "kind"), [(skip, "skipped"), (not_applicable, "not-applicable")])
def test_each_ending_carries_its_kind_and_reason_and_is_a_pytest_skip(end: object, kind: str) -> None:
    with pytest.raises(ClauseSkipped) as info:
        end("no accelerator here")  # type: ignore[operator]
    assert (info.value.kind, info.value.reason) == (kind, "no accelerator here"), f"observed {info.value!r}"
    assert isinstance(info.value, pytest.skip.Exception), "observed a ClauseSkipped that pytest would not skip"
    assert str(info.value).startswith(f"{kind}: "), f"observed message {str(info.value)!r}; expected the kind first"
