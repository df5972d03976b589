"""A module check, through the one run pipeline: the ``MODULE`` subject, and ``check_module`` in a user's tests.

``blockspec check-module`` runs the module-contract suite (``conformance/module_suite``)
in an isolated child; :func:`check_module` and :func:`evaluate` run the same suite in
this process (:func:`conformance.run.inprocess.run_suite`), with the subject already
loaded. Both end in :func:`conformance.run.verdicts.build_result`, so one rule decides
every status (``blocked`` included) whichever way a module is checked.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from conformance._errors import UsageError
from conformance._manifest import KnownFailure
from conformance.modules._subject import DTYPES, INFORMATIONAL, ModuleSubject, load_subject, parse_shape
from conformance.run.request import Prepared, RunRequest
from conformance.run.result import ClauseResult, RunResult
from conformance.run.status import FAILING, Status
from conformance.run.subjects import Subject
from spec import Catalogue

#: ``--inputs`` of a rerun line when the inputs were given as an object (no importable name).
UNNAMED_INPUTS = "MODULE:ATTR"


class ModuleCheck(Subject):
    """A user's module factory with the shapes of its inputs, dtype and device: ``blockspec check-module``."""

    kind = "module"
    suite = "conformance.module_suite"
    option = "--blockspec-module"
    draws_sizes = False

    def validate(self, request: RunRequest) -> None:
        for shape in request.input_shapes:
            parse_shape(shape)
        if request.dtype not in DTYPES:
            raise UsageError(f"unknown dtype {request.dtype!r}; expected one of {', '.join(DTYPES)}")

    def load(self, request: RunRequest, catalogue: Catalogue) -> tuple[Any, dict[str, KnownFailure], str]:
        device = request.device or "cpu"
        subject = load_subject(
            request.target, request.input_shapes, dtype=request.dtype, device=device, inputs=request.inputs
        )
        return subject, {}, device

    def command(self, request: RunRequest) -> str:
        parts = ["blockspec check-module", shlex.quote(request.target)]
        parts += [f"--input-shape {','.join(map(str, parse_shape(s)))}" for s in request.input_shapes]
        if request.inputs:
            parts.append(f"--inputs {shlex.quote(request.inputs)}")
        parts.append(f"--dtype {request.dtype}")
        if request.device:
            parts.append(f"--device {request.device}")
        return " ".join(parts)

    def rerun_notes(self, request: RunRequest) -> list[str]:
        notes = []
        if request.inputs == UNNAMED_INPUTS:
            notes.append("the inputs were given as an object: put the strategy or function at module level")
        if "<" in request.target:
            notes.append(
                f"{request.target} is a lambda or local function, which cannot be imported: define it at module "
                "level (def make(): return MyNet(4, 6)) or name a target with arguments ('pkg.mod:MyNet(4, 6)')"
            )
        return notes

    def arguments(self, request: RunRequest) -> list[str]:
        args = []
        for shape in request.input_shapes:
            args += ["--blockspec-input-shape", ",".join(map(str, parse_shape(shape)))]
        args += ["--blockspec-dtype", request.dtype]
        if request.inputs:
            args += ["--blockspec-inputs", request.inputs]
        return args


#: The subject of ``blockspec check-module`` and of :func:`check_module`.
MODULE = ModuleCheck()


@dataclass(frozen=True)
class ModuleReport:
    """The verdicts of the selected module-contract clauses on one module target, and the whole run's result."""

    target: str
    #: One verdict per selected clause (:class:`conformance.run.result.ClauseResult`: ``id``, ``level``,
    #: ``status``, ``reason``, ``message``, ``failure``), in the catalogue's order.
    results: tuple[ClauseResult, ...]
    #: Informational findings, never verdicts: ``module_train_eval``, ``torch_compile_graph_breaks`` (when run).
    notes: dict[str, str] = field(default_factory=dict, compare=False)
    #: The run's result, as ``blockspec check-module --json`` writes it.
    result: RunResult | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, clause: str) -> ClauseResult:
        return next(r for r in self.results if r.id == clause)

    def statuses(self) -> dict[str, str]:
        return {r.id: str(r.status) for r in self.results}

    def failing(self, *, should: bool = False) -> list[ClauseResult]:
        """MUST clauses (and SHOULD ones when ``should``) that failed, erred or were blocked."""
        levels = ("MUST", "SHOULD") if should else ("MUST",)
        return [r for r in self.results if r.status in FAILING and r.level in levels]

    def render(self) -> str:
        lines = [f"module contract of {self.target}:"]
        for r in self.results:
            lines.append(f"  {r.status:<14} {r.id} ({r.level})" + (f": {r.message}" if r.message else ""))
        lines += [f"  {INFORMATIONAL[k]}: {v}" for k, v in self.notes.items() if k in INFORMATIONAL]
        return "\n".join(lines)


class ModuleContractError(AssertionError):
    """What :func:`check_module` raises: every failing clause in the message, the whole report in ``report``."""

    def __init__(self, message: str, report: ModuleReport) -> None:
        super().__init__(message)
        self.report = report


def _importable_name(value: Any) -> str:
    """``module:qualname`` of a function or class defined at module level, else ""."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return ""
    return f"{module}:{qualname}"


class Options(TypedDict, total=False):
    """How a module is checked, as :func:`evaluate` and :func:`run_request` take it (all optional)."""

    #: The clauses to check (None: all), less those in ``exclude`` (a clause depending on one left out still runs).
    clauses: Iterable[str] | None
    exclude: Iterable[str]
    #: ``fast``, ``ci`` (the default) or ``thorough``; ``max_examples`` lowers its number of examples.
    profile: str
    max_examples: int | None
    #: Examples are derandomized unless ``seed`` is given.
    seed: int | None
    #: False: a failing example is reported as found (fast verdicts for meta-tests).
    shrink: bool


def selected_clauses(clauses: Iterable[str] | None, exclude: Iterable[str] = ()) -> tuple[str, ...] | None:
    """``clauses`` (None: every module clause) less ``exclude``, in the order given; None when that is every clause.

    ``blockspec check-module --clause/--exclude`` and :func:`check_module` select with this one function.
    """
    catalogue = MODULE.catalogue()
    left_out = list(exclude)
    chosen = list(catalogue) if clauses is None else list(clauses)
    unknown = [c for c in [*chosen, *left_out] if c not in catalogue]
    if unknown:
        raise UsageError(f"unknown module-contract clause(s) {unknown}; known: {', '.join(catalogue)}")
    if clauses is None and not left_out:
        return None
    return tuple(c for c in chosen if c not in left_out)


def run_request(subject: ModuleSubject, **options: Unpack[Options]) -> RunRequest:
    """The request :func:`evaluate` runs: the one ``blockspec check-module`` makes of the same options.

    A selection that ``exclude`` empties is a request for every clause: :func:`evaluate` runs nothing then, and
    the command refuses it.
    """
    catalogue = MODULE.catalogue()
    selected = selected_clauses(options.get("clauses"), options.get("exclude", ()))
    inputs = None if subject.inputs is None else (_importable_name(subject.inputs) or UNNAMED_INPUTS)
    request = RunRequest(
        subject.target,
        subject=MODULE,
        device=subject.device,
        profile=options.get("profile", "ci"),
        clauses=() if selected is None else selected,
        shrink=options.get("shrink", True),
        seed=options.get("seed"),
        max_examples=options.get("max_examples"),
        input_shapes=subject.input_shapes,
        dtype=subject.dtype,
        inputs=inputs,
    )
    request.validate(catalogue)
    return request


def evaluate(subject: ModuleSubject, **options: Unpack[Options]) -> ModuleReport:
    """Every selected clause's verdict on a loaded subject, run in this process as ``check-module`` runs it
    (the options: :class:`Options`)."""
    if selected_clauses(options.get("clauses"), options.get("exclude", ())) == ():
        return ModuleReport(subject.target, ())  # nothing left to check
    request = run_request(subject, **options)
    catalogue = request.catalogue()
    wanted = request.clauses or tuple(catalogue)
    from conformance.run.inprocess import run_suite

    result = run_suite(Prepared(request, catalogue, subject, {}, subject.device), quiet=True)
    if result.incomplete:
        raise KeyboardInterrupt(result.incomplete)
    notes = {k: result.environment[k] for k in INFORMATIONAL if k in result.environment}
    return ModuleReport(subject.target, tuple(c for c in result.clauses if c.id in wanted), notes, result)


def check_module(
    factory: str | Callable[[], Any],
    input_shape: Sequence[int] | str | None = None,
    *,
    input_shapes: Sequence[Sequence[int] | str] = (),
    inputs: Any = None,
    clauses: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    dtype: str = "float32",
    device: str = "cpu",
    profile: str = "ci",
    max_examples: int | None = None,
    seed: int | None = None,
    fail_on_should: bool = False,
) -> ModuleReport:
    """Check a module factory against the module contract; raise one AssertionError listing every failure.

    ``factory`` is a zero-argument class or function returning an ``nn.Module``
    (or a ``package.module:attr`` / ``file.py:attr`` string); ``input_shape``
    has the batch first (several inputs: ``input_shapes``; other inputs: a
    hypothesis strategy or a function returning examples as ``inputs``).
    Examples are derandomized unless ``seed`` is given. SHOULD clauses fail
    the call only with ``fail_on_should``. Returns the report when it passes;
    when it fails, the :class:`ModuleContractError` (an ``AssertionError``)
    carries the same report as ``.report``.

    Example, in a test file::

        from conformance.modules import check_module

        def test_my_net_keeps_the_module_contract():
            check_module(MyNet, input_shape=(4, 6))

        def test_only_the_gradients_quickly():
            check_module(lambda: MyNet(hidden=8), (4, 6), clauses=["MOD-GRAD-CORRECT"], profile="fast")
    """
    if selected_clauses(clauses, exclude) == ():  # a check that checks nothing is no pass
        raise UsageError("check_module: the clauses given, less exclude, leave no module-contract clause to check")
    shapes = [input_shape, *input_shapes] if input_shape is not None else list(input_shapes)
    subject = load_subject(factory, shapes, dtype=dtype, device=device, inputs=inputs)
    report = evaluate(subject, clauses=clauses, exclude=exclude, profile=profile, max_examples=max_examples, seed=seed)
    failing = report.failing(should=fail_on_should)
    if failing:
        roots = [r for r in failing if r.status != Status.BLOCKED]
        blocked = [r for r in failing if r.status == Status.BLOCKED]
        raise ModuleContractError(
            f"{subject.target} breaks {len(failing)} module-contract clause(s): "
            + ", ".join(r.id for r in failing)
            + "\n\n"
            + "\n\n".join(r.message for r in roots)
            + "".join(f"\n\n{r.id}: {r.reason}" for r in blocked),
            report,
        )
    return report
