"""conformance.run.fixtures: ``check``, the one fixture every suite shares, bound to the test's clause and the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.run.stash import NO_BACKEND
from tests.helpers import ADAPTERS_DIR, pytester_output

#: A backend whose host is not called "cpu" and which offers two accelerators, so that the device is visibly chosen.
ADAPTER = """
from fake_adapters import MinimalBackend

class TwoCards(MinimalBackend):
    name = "two-cards"
    host_device = "HOST"

    def accelerators(self):
        return ["card:0", "card:1"]
"""

#: What every suite's conftest does.
CONFTEST = "from conformance.run.fixtures import check  # noqa: F401\n"

#: Each test writes what its ``check`` is bound to, under its own name.
TESTS = """
import json
import pytest


def _record(request, check):
    path = request.config.rootpath / f"{request.node.name}.json"
    path.write_text(json.dumps([check.clause, check.backend, check.device]))


@pytest.mark.clause("SEQ-INDEX")
def test_function(request, check):
    _record(request, check)


@pytest.mark.clause("PARAM-TYPE")
class TestGroup:
    def test_from_the_class(self, request, check):
        _record(request, check)

    @pytest.mark.clause("SEQ-ORDER")
    def test_own_marker_first(self, request, check):
        _record(request, check)


def test_no_clause(request, check):
    _record(request, check)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    pytester.syspathinsert()
    pytester.makepyfile(two_cards=ADAPTER, test_bound=TESTS)
    pytester.makeconftest(CONFTEST)
    return pytester


def _seen(where: Path, test: str) -> list[str] | None:
    path = where / f"{test}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


@pytest.mark.parametrize(
    ("options", "device"), [((), "HOST"), (("--blockspec-device", "card:1"), "card:1")], ids=["host", "accelerator"]
)
def test_check_is_bound_to_the_cited_clause_the_backend_and_the_runs_device(
    suite: pytest.Pytester, options: tuple[str, ...], device: str
) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "--blockspec-backend", "two_cards:TwoCards", *options)
    expected = {
        "test_function": ["SEQ-INDEX", "two-cards", device],
        "test_from_the_class": ["PARAM-TYPE", "two-cards", device],
        "test_own_marker_first": ["SEQ-ORDER", "two-cards", device],
    }
    for test, bound in expected.items():
        seen = _seen(suite.path, test)
        assert seen == bound, f"{test} with {options}: observed check bound to {seen}; expected {bound}" + (
            pytester_output(result)
        )


def test_a_test_citing_no_clause_cannot_have_a_check(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "--blockspec-backend", "two_cards:TwoCards")
    seen = _seen(suite.path, "test_no_clause")
    assert seen is None, f"observed an unmarked test given a check bound to {seen}; expected none"
    result.assert_outcomes(passed=3, errors=1)
    says = "test_bound.py::test_no_clause has no @pytest.mark.clause(ID) marker"
    assert says in result.stdout.str(), f"observed no {says!r} in the output{pytester_output(result)}"


def test_without_a_run_check_says_how_to_start_one(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "test_bound.py::test_function")
    seen = _seen(suite.path, "test_function")
    assert seen is None, f"observed a check bound to {seen} without a backend; expected none"
    result.assert_outcomes(errors=1)
    assert NO_BACKEND in result.stdout.str(), f"observed no {NO_BACKEND!r} in the output{pytester_output(result)}"
