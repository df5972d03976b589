"""Meta-tests of the module contract: no correct module fails a MUST clause; each broken one fails exactly its own.

They run the clause functions in-process (conformance.modules.evaluate) at the
fast profile without shrinking, so a verdict is quick.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("torch")

from conformance._errors import UsageError
from conformance.modules import MODULE, ModuleReport, ModuleTargetError, check_module, evaluate, load_subject
from conformance.modules._clauses import BY_ID
from conformance.modules._engine import UNNAMED_INPUTS
from conformance.run.request import RunRequest
from spec import load_catalogue
from tests.modules.broken import BROKEN, CHAPTER, Broken
from tests.modules.correct import CASES, MLP, Case, MyLinear
from tests.modules.real import WITH_DEVICE, Real

FAILING = ("fail", "error")


def _report(case: Case) -> ModuleReport:
    return evaluate(load_subject(case.factory, case.shapes, inputs=case.inputs), profile="fast", shrink=False)


def _listing(report: ModuleReport) -> str:
    return "\n".join(f"  {r.id}: {r.status} {r.message.splitlines()[0] if r.message else ''}" for r in report.results)


def test_the_sets_are_large_enough_and_every_clause_has_a_broken_module() -> None:
    assert len(CASES) >= 25, f"observed {len(CASES)} correct modules; expected at least 25"
    assert len(BROKEN) >= 20, f"observed {len(BROKEN)} broken modules; expected at least 20"
    caught = {c for b in BROKEN for c in b.fails}
    missing = sorted(set(load_catalogue(subject="module")) - caught)
    assert not missing, f"observed no broken module for {missing}; expected one or more per clause"
    assert set(BY_ID) == set(load_catalogue(subject="module")), "observed clause functions and catalogue differ"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_correct_module_fails_no_must_clause(case: Case) -> None:
    report = _report(case)
    failing = {r.id for r in report.results if r.status in FAILING}
    assert failing == set(case.should_fail), (
        f"{case.name}: observed failing clauses {sorted(failing)}; expected {sorted(case.should_fail)}\n"
        + _listing(report)
    )


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_a_broken_module_fails_exactly_its_clauses(case: Broken) -> None:
    report = _report(case)
    failing = {r.id for r in report.results if r.status in FAILING}
    assert failing == set(case.fails), (
        f"{case.name}: observed failing clauses {sorted(failing)}; expected exactly {sorted(case.fails)}\n"
        + _listing(report)
    )
    for clause in case.fails:
        message = report[clause].message
        assert message.startswith(f"[{clause}] "), (
            f"{case.name}: observed message {message[:200]!r}; expected the clause"
        )
        assert "observed" in message and "expected" in message and "fix:" in message, (
            f"{case.name}: {clause} message lacks observed/expected/fix: {message[:400]!r}"
        )
        assert "Draw 1 (" in message, f"{case.name}: {clause} message lacks the labelled example: {message[:400]!r}"


def test_the_chapter_code_as_written_is_caught_and_the_corrected_code_passes() -> None:
    fixed_hidden, my_linear = CHAPTER
    assert fixed_hidden.fails == {"MOD-REGISTERED", "MOD-DEVICE-MOVE", "MOD-DTYPE-MOVE"}, fixed_hidden.fails
    assert my_linear.fails == {"MOD-GRAD-REACHES"}, my_linear.fails
    report = _report(fixed_hidden)
    assert "self.rand_weight" in report["MOD-REGISTERED"].message, report["MOD-REGISTERED"].message
    assert "register_buffer" in report["MOD-REGISTERED"].message, report["MOD-REGISTERED"].message
    assert "self.rand_weight" in report["MOD-DEVICE-MOVE"].message, report["MOD-DEVICE-MOVE"].message
    assert ".data" in _report(my_linear)["MOD-GRAD-REACHES"].message, "observed no .data hint for MyLinear"
    corrected = next(c for c in CASES if c.name.startswith("chapter FixedHiddenMLP"))
    device = _report(corrected)["MOD-DEVICE-MOVE"]
    assert device.status == "skipped" and "meta" in device.message, (
        f"observed {device}; expected the buffer version skipped on meta (its while loop reads a value)"
    )


def test_check_module_raises_one_assertion_naming_each_failing_clause() -> None:
    fixed_hidden = CHAPTER[0]
    with pytest.raises(AssertionError) as info:
        check_module(fixed_hidden.factory, fixed_hidden.shapes[0], profile="fast", max_examples=3)
    text = str(info.value)
    for clause in fixed_hidden.fails:
        assert f"[{clause}]" in text, f"observed {text[:600]!r}; expected {clause} named"
    report = check_module(MyLinear, (4, 5), profile="fast", max_examples=2, clauses=["MOD-GRAD-REACHES"])
    assert report.statuses() == {"MOD-GRAD-REACHES": "pass"}, f"observed {report.statuses()}"


def _without_explanations(message: str) -> str:
    """The message less hypothesis's explain-phase comments, which its own time budget decides.

    The explain phase may or may not get to add "# The test always failed when commented parts
    were varied together." (seen on CI); the example itself, each draw's value, is what a seed fixes.
    """
    lines = (line for line in message.splitlines() if not line.lstrip().startswith("#"))
    return "\n".join(line.split("  # ")[0] for line in lines)


def test_check_module_is_reproducible_with_a_seed() -> None:
    broken = next(b for b in BROKEN if "MOD-NONCONTIGUOUS" in b.fails)
    seen = []
    for _ in range(2):
        with pytest.raises(AssertionError) as info:
            check_module(
                broken.factory,
                input_shapes=broken.shapes,
                clauses=["MOD-NONCONTIGUOUS"],
                profile="fast",
                max_examples=3,
                seed=7,
            )
        seen.append([(r.id, r.status, _without_explanations(r.message)) for r in info.value.report.results])  # type: ignore[attr-defined]
    assert seen[0] == seen[1], f"observed {seen[0]} then {seen[1]}; expected the same verdicts and examples"
    assert "--seed 7" in seen[0][0][2], f"observed {seen[0][0][2]!r}; expected the seed in the rerun line"


def test_a_checks_seed_draws_what_torch_manual_seed_draws_and_the_callers_generator_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from conformance.modules._inspect import seed_generators, seeded

    torch.manual_seed(11)
    expected = torch.rand(4)
    seed_generators(11)
    observed = torch.rand(4)
    assert torch.equal(observed, expected), f"observed {observed} after seed_generators(11); expected {expected}"

    class Data:  # a hypothesis data object that always draws 11
        def draw(self, strategy: object, label: str) -> int:
            return 11

    torch.manual_seed(5)
    caller = torch.random.get_rng_state()
    with seeded(Data()) as seed:  # type: ignore[arg-type]
        inside = torch.rand(4)
    assert seed == 11 and torch.equal(inside, expected), f"observed seed {seed} and {inside}; expected 11, {expected}"
    assert torch.equal(torch.random.get_rng_state(), caller), "observed the caller's generator moved by seeded()"

    seeds: list[int] = []
    accelerator = type("Accelerator", (), {"manual_seed_all": staticmethod(seeds.append)})
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch, "get_device_module", lambda device: accelerator)
    seed_generators(3)
    assert seeds == [3], f"observed the accelerator seeded with {seeds}; expected [3], as torch.manual_seed(3) does"


class _NotAModule:
    pass


def _raises() -> object:
    raise ValueError("no weights here")


class _BadForward(MLP):
    def forward(self, X: object) -> object:
        raise RuntimeError("forward is broken")


@pytest.mark.parametrize(
    ("target", "shapes", "fragment"),
    [
        ("no_such_package_xyz.mod:Net", ["4,6"], "cannot import"),
        ("tests.modules.correct:NoSuchThing", ["4,6"], "no attribute"),
        ("tests.modules.correct", ["4,6"], "package.module:attr"),
        ("tests/modules/none_here.py:Net", ["4,6"], "no file"),
        ("tests.modules.correct:CASES", ["4,6"], "not callable"),
        (_NotAModule, ["4,6"], "not a torch.nn.Module"),
        (_raises, ["4,6"], "ValueError: no weights here"),
        (_BadForward, ["4,20"], "RuntimeError: forward is broken"),
        (MLP, ["4,6"], "first forward"),
        (MLP, ["0,20"], "zero or negative"),
        (MLP, ["4,-2"], "zero or negative"),
        (MLP, ["4,a"], "integer"),
        (MLP, [], "no input shape"),
    ],
    # Ids from names, never reprs: an object's address differs between xdist workers, which must agree.
    ids=lambda v: (getattr(v, "__name__", None) or str(v))[:30],
)
def test_a_bad_target_is_a_usage_error_naming_it(target: object, shapes: list[str], fragment: str) -> None:
    from conformance._errors import UsageError

    with pytest.raises(UsageError) as info:
        load_subject(target, shapes)  # type: ignore[arg-type]
    assert fragment in str(info.value), f"observed {info.value}; expected {fragment!r}"
    if isinstance(info.value, ModuleTargetError):
        assert info.value.target in str(info.value), f"observed {info.value}; expected the target named"


def test_a_target_takes_literal_constructor_arguments_and_nothing_else() -> None:
    subject = load_subject("torch.nn:Linear(6, 4, bias=False)", ["4,6"])
    module = subject.factory()
    assert (module.in_features, module.out_features, module.bias) == (6, 4, None), f"observed {module}"
    for target in ('torch.nn:Linear(open("x"))', "torch.nn:Linear(**{})", "torch.nn:Linear(6, [i for i in ()])"):
        with pytest.raises(ModuleTargetError) as info:
            load_subject(target, ["4,6"])
        assert "literals" in str(info.value), f"observed {info.value}; expected a literals-only refusal"


def test_exclude_leaves_a_clause_out() -> None:
    report = evaluate(
        load_subject(MLP, ["4,20"]),
        clauses=["MOD-REGISTERED", "MOD-DEEPCOPY"],
        exclude=["MOD-DEEPCOPY"],
        profile="fast",
        max_examples=2,
    )
    assert set(report.statuses()) == {"MOD-REGISTERED"}, f"observed {report.statuses()}; expected MOD-DEEPCOPY out"
    with pytest.raises(UsageError):
        evaluate(load_subject(MLP, ["4,20"]), exclude=["MOD-NO-SUCH"], profile="fast")


def test_the_helpers_rerun_line_is_complete_and_names_no_lambda() -> None:
    from tests.modules.broken import BROKEN
    from tests.modules.correct import TOKENS, Embedder

    # A passing clause has no rerun line: break one with inputs given as an object to see it.
    subject = load_subject(Embedder, [], inputs=TOKENS, dtype="float64")
    request = RunRequest(
        subject.target, subject=MODULE, inputs=UNNAMED_INPUTS, dtype="float64", device="cpu", profile="fast", seed=7
    )
    line = request.rerun_template().format(clause="MOD-REGISTERED")
    for part in (
        "--inputs",
        "--dtype float64",
        "--device cpu",
        "--profile fast",
        "--seed 7",
        "--clause MOD-REGISTERED",
    ):
        assert part in line, f"observed {line!r}; expected {part!r}"
    assert "module level" in line, f"observed {line!r}; expected advice for inputs given as an object"
    broken = next(b for b in BROKEN if "MOD-REGISTERED" in b.fails)
    failed = evaluate(load_subject(lambda: broken.factory(), broken.shapes), clauses=["MOD-REGISTERED"], profile="fast")
    lambda_line = failed["MOD-REGISTERED"].failure["rerun"]  # type: ignore[index]
    shape = ",".join(map(str, load_subject(broken.factory, broken.shapes).input_shapes[0]))
    assert "cannot be imported" in lambda_line and f"--input-shape {shape}" in lambda_line, f"observed {lambda_line!r}"
    assert f"rerun: {lambda_line}" in failed["MOD-REGISTERED"].message, "observed no rerun line in the message"


def _counting(fails: Callable[[int], bool]) -> tuple[Callable[..., None], list[int]]:
    from hypothesis import strategies as st

    calls: list[int] = []

    def inner(data: st.DataObject) -> None:
        value = data.draw(st.integers(0, 10**6), label="value")
        calls.append(value)
        if fails(value):
            raise AssertionError(f"observed {value}")

    return inner, calls


def test_a_failure_every_example_shows_is_not_shrunk_and_a_rare_one_is() -> None:
    from hypothesis import settings

    from conformance.modules._runner import PROBE, run_clause_test

    options = settings(max_examples=50, derandomize=True, database=None)
    inner, calls = _counting(lambda v: True)
    with pytest.raises(AssertionError):
        run_clause_test(inner, {}, options)
    assert len(calls) <= PROBE + 4, f"observed {len(calls)} calls; expected no shrinking of an every-example failure"
    inner, calls = _counting(lambda v: v > 1000)
    with pytest.raises(AssertionError) as info:
        run_clause_test(inner, {}, options)
    assert "1001" in str(info.value), f"observed {info.value}; expected the failure shrunk to its boundary"
    inner, calls = _counting(lambda v: v > 1000)
    with pytest.raises(AssertionError) as info:
        run_clause_test(inner, {}, options, decided=True)
    assert "1001" not in str(info.value) and len(calls) < 60, (
        f"observed {info.value} after {len(calls)} calls; expected a decided clause's first failure, unshrunk"
    )


NEW = ("MOD-META-INIT", "MOD-GRADGRAD", "MOD-COMPILE-PARITY")


@pytest.mark.parametrize("case", WITH_DEVICE, ids=[c.name for c in WITH_DEVICE])
def test_torch_nn_built_ins_pass_the_meta_gradgrad_and_compile_clauses(case: Real) -> None:
    """No false alarm on torch's own layers; their factories take device=, so MOD-META-INIT runs on each."""
    subject = load_subject(case.factory, case.shapes, inputs=case.inputs)
    report = evaluate(subject, clauses=NEW, profile="fast", shrink=False)
    assert report["MOD-META-INIT"].status == "pass", f"{case.name}: observed {report['MOD-META-INIT']}; expected pass"
    failing = {r.id for r in report.results if r.status in FAILING}
    assert not failing, f"{case.name}: observed failing {sorted(failing)}; expected none\n{_listing(report)}"


def test_a_once_differentiable_backward_is_not_applicable_for_gradgrad_with_the_reason() -> None:
    from tests.modules.correct import OnceDifferentiable

    result = evaluate(load_subject(OnceDifferentiable, ["4,6"]), clauses=["MOD-GRADGRAD"], profile="fast")
    assert result["MOD-GRADGRAD"].status == "not-applicable", f"observed {result['MOD-GRADGRAD']}"
    assert "once_differentiable" in result["MOD-GRADGRAD"].message, f"observed {result['MOD-GRADGRAD'].message!r}"


def test_train_eval_differences_and_graph_breaks_are_reported_as_information() -> None:
    from tests.modules.correct import FixedHiddenMLPBuffer, dropout_mlp

    plain = evaluate(load_subject(MLP, ["4,20"]), clauses=["MOD-COMPILE-PARITY"], profile="fast", max_examples=1)
    assert plain.notes["module_train_eval"].startswith("outputs equal"), f"observed {plain.notes}"
    assert plain.notes["torch_compile_graph_breaks"].startswith("0"), f"observed {plain.notes}"
    dropout = evaluate(load_subject(dropout_mlp, ["4,6"]), clauses=["MOD-MODES-REACH"], profile="fast")
    assert dropout.notes["module_train_eval"].startswith("outputs differ"), f"observed {dropout.notes}"
    assert "Dropout" in dropout.notes["module_train_eval"], f"observed {dropout.notes}"
    assert all(r.status == "pass" for r in dropout.results), "observed a verdict from an informational finding"
    looping = evaluate(
        load_subject(FixedHiddenMLPBuffer, ["2,20"]), clauses=["MOD-COMPILE-PARITY"], profile="fast", max_examples=1
    )
    breaks = looping.notes["torch_compile_graph_breaks"]
    assert breaks[0].isdigit() and int(breaks.split()[0]) >= 1, f"observed {breaks!r}; expected the while loop's break"
    assert "graph breaks (informational)" in looping.render(), f"observed {looping.render()}"


def test_a_compiler_that_cannot_be_used_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def no_compiler(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no working C compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    report = evaluate(load_subject(lambda: MLP(), ["4,20"]), clauses=["MOD-COMPILE-PARITY"], profile="fast")
    result = report["MOD-COMPILE-PARITY"]
    assert (result.status, result.message) == (
        "skipped",
        "compiler unavailable: RuntimeError: no working C compiler found",
    ), f"observed {result}; expected skipped: compiler unavailable with the reason"
