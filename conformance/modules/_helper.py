"""Checking a module in-process: the clause functions under hypothesis, with verdicts as data.

:func:`check_module` is what a user calls in their own test suite; the
meta-tests and the soak script call :func:`evaluate` for the verdicts.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance._errors import UsageError
from conformance.kit import profiles as _profiles
from conformance.kit.checks import Check, ClauseViolation
from conformance.modules._clauses import BY_ID, CONTRACT
from conformance.modules._outcome import ClauseSkipped
from conformance.modules._runner import run_clause_test
from conformance.modules._subject import INFORMATIONAL, ModuleSubject, load_subject
from spec import load_catalogue

#: Verdicts that make a MUST clause a failure of the module.
FAILING = ("fail", "error")


@dataclass(frozen=True)
class ClauseResult:
    """One clause's verdict: ``pass``, ``fail``, ``error``, ``skipped``, ``not-applicable`` or ``blocked``."""

    clause: str
    level: str
    status: str
    message: str = ""


@dataclass(frozen=True)
class ModuleReport:
    """Every checked clause's verdict for one module target."""

    target: str
    results: tuple[ClauseResult, ...]
    #: Informational findings, never verdicts: ``module_train_eval``, ``torch_compile_graph_breaks`` (when run).
    notes: dict[str, str] = field(default_factory=dict, compare=False)

    def __getitem__(self, clause: str) -> ClauseResult:
        return next(r for r in self.results if r.clause == clause)

    def statuses(self) -> dict[str, str]:
        return {r.clause: r.status for r in self.results}

    def failing(self, *, should: bool = False) -> list[ClauseResult]:
        """MUST clauses (and SHOULD ones when ``should``) that failed or errored."""
        levels = ("MUST", "SHOULD") if should else ("MUST",)
        return [r for r in self.results if r.status in FAILING and r.level in levels]

    def render(self) -> str:
        lines = [f"module contract of {self.target}:"]
        for r in self.results:
            lines.append(f"  {r.status:<14} {r.clause} ({r.level})" + (f": {r.message}" if r.message else ""))
        lines += [f"  {INFORMATIONAL[k]}: {v}" for k, v in self.notes.items() if k in INFORMATIONAL]
        return "\n".join(lines)


def rerun_command(subject: ModuleSubject, clause: str, profile: str = "ci", seed: int | None = None) -> str:
    """The CLI line that reruns one clause as this check ran it (inputs, dtype, device, profile, seed).

    A factory or inputs source made in Python (a lambda, a local function, a strategy object) has no
    importable name: the line then says so and how to give it one, instead of naming what cannot be imported.
    """
    parts = ["blockspec check-module", shlex.quote(subject.target)]
    parts += [f"--input-shape {','.join(map(str, s))}" for s in subject.input_shapes]
    advice = []
    if subject.inputs is not None:
        name = _importable_name(subject.inputs)
        parts.append(f"--inputs {shlex.quote(name)}" if name else "--inputs MODULE:ATTR")
        if not name:
            advice.append("the inputs were given as an object: put the strategy or function at module level")
    parts += [f"--dtype {subject.dtype}", f"--device {subject.device}", f"--profile {profile}"]
    if seed is not None:
        parts.append(f"--seed {seed}")
    parts.append(f"--clause {clause}")
    if "<" in subject.target:
        advice.append(
            f"{subject.target} is a lambda or local function, which cannot be imported: define it at module "
            "level (def make(): return MyNet(4, 6)) or name a target with arguments ('pkg.mod:MyNet(4, 6)')"
        )
    return " ".join(parts) + "".join(f"\n  ({a})" for a in advice)


def _importable_name(value: Any) -> str:
    """``module:qualname`` of a function or class defined at module level, else ""."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return ""
    return f"{module}:{qualname}"


def _settings(profile: str, max_examples: int | None, seed: int | None, examples: int | None, shrink: bool) -> Any:
    from hypothesis import Phase, settings

    if profile not in _profiles.PROFILES:
        raise UsageError(f"Expected profile to be one of {list(_profiles.PROFILES)} but got profile={profile!r}")
    _profiles.register_profiles()
    base = settings.get_profile(_profiles.hypothesis_name(profile))
    count = max_examples if max_examples is not None else base.max_examples
    if examples is not None:
        count = min(count, examples)
    phases = base.phases if shrink else tuple(p for p in base.phases if p is not Phase.shrink)
    return settings(base, max_examples=count, derandomize=seed is None, report_multiple_bugs=False, phases=phases)


def _run_one(
    subject: ModuleSubject, clause: str, level: str, options: Any, seed: int | None, profile: str = "ci"
) -> ClauseResult:
    check = Check(clause, subject.target, subject.device)
    function = BY_ID[clause].function

    def inner(data: Any) -> None:
        function(subject, check, data)

    try:
        run_clause_test(inner, {}, options, seed=seed)
    except ClauseSkipped as exc:
        return ClauseResult(clause, level, exc.kind, exc.reason)
    except ClauseViolation as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        rerun = f"rerun: {rerun_command(subject, clause, profile, seed)}"
        return ClauseResult(clause, level, "fail", "\n".join(p for p in (str(exc), notes, rerun) if p))
    except Exception as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        message = f"[{clause}] {subject.target} on {subject.device}: the check crashed: {type(exc).__name__}: {exc}"
        return ClauseResult(clause, level, "error", "\n".join(p for p in (message, notes) if p))
    return ClauseResult(clause, level, "pass")


def evaluate(
    subject: ModuleSubject,
    *,
    clauses: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    profile: str = "ci",
    max_examples: int | None = None,
    seed: int | None = None,
    shrink: bool = True,
) -> ModuleReport:
    """Every selected clause's verdict, dependencies first; a clause whose dependency failed is ``blocked``.

    ``exclude`` leaves clauses out (a clause depending on one left out still runs).
    ``shrink`` False reports the first failing example as found (fast verdicts for meta-tests).
    """
    catalogue = load_catalogue(subject="module")
    left_out = list(exclude)
    wanted = [c for c in (list(BY_ID) if clauses is None else list(clauses)) if c not in left_out]
    unknown = [c for c in [*wanted, *left_out] if c not in BY_ID]
    if unknown:
        raise UsageError(f"unknown module-contract clause(s) {unknown}; known: {', '.join(BY_ID)}")
    results: dict[str, ClauseResult] = {}
    for entry in CONTRACT:
        if entry.id not in wanted:
            continue
        clause = catalogue[entry.id]
        blockers = [d for d in clause.depends_on if d in results and results[d].status in FAILING]
        if blockers:
            results[entry.id] = ClauseResult(
                entry.id, clause.level.value, "blocked", f"blocked by {', '.join(blockers)}, which failed"
            )
            continue
        options = _settings(profile, max_examples, seed, entry.examples, shrink)
        results[entry.id] = _run_one(subject, entry.id, clause.level.value, options, seed, profile)
    from conformance.modules._notes import information

    return ModuleReport(subject.target, tuple(results.values()), information(subject))


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
    the call only with ``fail_on_should``. Returns the report when it passes.

    Example, in a test file::

        from conformance.modules import check_module

        def test_my_net_keeps_the_module_contract():
            check_module(MyNet, input_shape=(4, 6))

        def test_only_the_gradients_quickly():
            check_module(lambda: MyNet(hidden=8), (4, 6), clauses=["MOD-GRAD-CORRECT"], profile="fast")
    """
    shapes = [input_shape, *input_shapes] if input_shape is not None else list(input_shapes)
    subject = load_subject(factory, shapes, dtype=dtype, device=device, inputs=inputs)
    report = evaluate(subject, clauses=clauses, exclude=exclude, profile=profile, max_examples=max_examples, seed=seed)
    failing = report.failing(should=fail_on_should)
    if failing:
        raise AssertionError(
            f"{subject.target} breaks {len(failing)} module-contract clause(s): "
            + ", ".join(r.clause for r in failing)
            + "\n\n"
            + "\n\n".join(r.message for r in failing)
        )
    return report
