"""What a run asks its subject (conformance.run.subjects): each kind names its own suite, option, clauses and rerun."""

from __future__ import annotations

import pytest

from conformance.interop.subject import PAIR
from conformance.modules import MODULE
from conformance.run.request import RunRequest
from conformance.run.subjects import FRAMEWORK, Subject
from spec import load_catalogue


@pytest.mark.parametrize(
    ("subject", "target", "suite", "option", "rerun"),
    [
        (FRAMEWORK, "reference", "conformance.suite", "--blockspec-backend", "blockspec run --backend reference"),
        (MODULE, "pkg.mod:Net", "conformance.module_suite", "--blockspec-module", "blockspec check-module pkg.mod:Net"),
        (
            PAIR,
            "torch->reference",
            "conformance.interop",
            "--blockspec-pair",
            "blockspec interop --pair 'torch->reference'",
        ),
    ],
    ids=["framework", "module", "interop"],
)
def test_a_request_takes_what_differs_from_its_subject(
    subject: Subject, target: str, suite: str, option: str, rerun: str
) -> None:
    request = RunRequest(target, subject=subject, input_shapes=("4,6",) if subject is MODULE else ())
    arguments = request.pytest_arguments()
    assert request.suite == suite, f"observed suite {request.suite}; expected {suite} for a {subject.kind} subject"
    assert arguments[arguments.index(option) + 1] == target, f"observed {arguments}; expected {option} {target}"
    others = {FRAMEWORK.option, MODULE.option, PAIR.option} - {option}
    assert not others & set(arguments), f"observed another subject's option in {arguments}"
    assert request.rerun_template().startswith(rerun), f"observed {request.rerun_template()!r}; expected {rerun!r}..."
    assert set(request.catalogue()) == set(load_catalogue(subject=subject.kind)), "observed another subject's clauses"


def test_only_a_module_subject_has_input_options_and_draws_no_sizes_of_its_own() -> None:
    module = RunRequest("pkg.mod:Net", subject=MODULE, input_shapes=("4x6", (2, 3)), dtype="float64")
    arguments = module.pytest_arguments()
    shapes = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--blockspec-input-shape"]
    assert shapes == ["4,6", "2,3"], f"observed input shapes {shapes}; expected both, written 4,6 and 2,3"
    assert "--input-shape 4,6 --input-shape 2,3 --dtype float64" in module.rerun_template(), module.rerun_template()
    assert not MODULE.draws_sizes and FRAMEWORK.draws_sizes, "observed a module drawing sizes, or a framework not"
    framework = RunRequest("reference", input_shapes=("4,6",)).pytest_arguments()
    assert "--blockspec-input-shape" not in framework, f"observed module options in a framework run: {framework}"


def test_a_module_subject_refuses_a_bad_shape_or_dtype_before_loading() -> None:
    from conformance._errors import UsageError

    for request, says in (
        (RunRequest("pkg.mod:Net", subject=MODULE, input_shapes=("4,0",)), "zero or negative"),
        (RunRequest("pkg.mod:Net", subject=MODULE, input_shapes=("4,6",), dtype="float8"), "float8"),
    ):
        with pytest.raises(UsageError) as info:
            request.validate()  # pkg.mod does not exist: nothing is imported before these refusals
        assert says in str(info.value), f"observed {info.value}; expected {says!r}"


def test_a_rerun_line_keeps_a_targets_braces_and_gives_advice_for_a_lambda() -> None:
    line = RunRequest("pkg.mod:<lambda>", subject=MODULE, input_shapes=((4, 6),)).rerun_template()
    assert "cannot be imported" in line.format(clause="MOD-REGISTERED"), f"observed {line!r}"
    braces = RunRequest("pkg.mod:make({})", subject=MODULE, input_shapes=((4, 6),)).rerun_template()
    assert "make({})" in braces.format(clause="MOD-REGISTERED"), f"observed {braces!r}; expected the braces kept"
