"""The ``blockspec`` command line: ``run``, ``spec``, ``backends``, ``report``, ``dashboard``, ``expect``.

Exit status of ``run``: 0 when every applicable, selected MUST clause was
checked by tests that ran and passed, or is a known failure (``xfail``) that
the verdict line names; 1 when one was not; 2 for bad usage (unknown
backend, clause or device; an output that is not a regular file,
``/dev/null`` or ``/dev/stdout``, or two outputs naming one file; a backend
or module factory that cannot be loaded), always before any test runs; 130
when the user interrupted the run (Ctrl-C); 128 + N after signal N
(SIGTERM, SIGHUP), temporary directories removed. Nothing here
imports a framework until a backend is asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conformance._interrupt import install as install_interrupt
from conformance._interrupt import signals_as_exit
from conformance.kit.profiles import PROFILES, SHAPE_MODES, without_hypothesis_plugins
from spec import BlockspecError

if TYPE_CHECKING:
    from conformance.run.request import RunRequest


def _path(text: str) -> Path:
    """A path option's value; an empty one names nothing (``Path("")`` would silently be the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file or directory")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blockspec",
        description="Check a deep-learning framework against the executable spec of neural-network blocks.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the conformance suite on one backend and device")
    run.add_argument("--backend", default="reference", help="backend name or package.module:attr (default: reference)")
    run.add_argument(
        "--device", help="device to place modules and tensors on, named the framework's way (default: its host device)"
    )
    run.add_argument("--json", type=_path, metavar="PATH", help="write the per-clause result file here")
    run.add_argument("--clause", action="append", default=[], metavar="ID", help="check only this clause (repeatable)")
    run.add_argument("--profile", choices=tuple(PROFILES), default="ci", help="hypothesis profile (default: ci)")
    run.add_argument("--verbose", action="store_true", help="show pytest's own output and tracebacks")
    run.add_argument(
        "--no-shrink", action="store_true", help="report failing examples as found, without shrinking (faster)"
    )
    _add_timeouts(run, "a test running longer is a hang: its clause is an error and the run goes on (default: 300)")
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run the suite in this process: faster to start, but a backend that crashes or hangs ends the run",
    )
    run.add_argument("--seed", type=int, metavar="N", help="draw examples at random from this seed (soak runs)")
    run.add_argument(
        "--max-examples", type=int, metavar="N", help="at most N examples per clause (default: the profile's)"
    )
    run.add_argument(
        "--shapes",
        choices=SHAPE_MODES,
        help="draw widths, batch sizes and tensor dimensions from a small per-run palette (chosen from --seed), "
        "or freely (default: palette for a backend that compiles per shape, such as flax and tinygrad; full otherwise)",
    )
    run.add_argument(
        "--compile-cache",
        type=_path,
        metavar="DIR",
        help="keep the framework's compile cache here and reuse it in later runs "
        "(default: a fresh directory for this run, removed at its end)",
    )
    run.add_argument(
        "-n",
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run tests in N processes at once (pytest-xdist; at most 64); each test still isolated and timed, "
        "with the same verdicts as -n 1 (default: 1)",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress lines; only the summary")
    run.add_argument(
        "--known-failures",
        type=_path,
        metavar="PATH",
        help="TOML manifest of known failures (default: the one the adapter ships, if any)",
    )
    run.add_argument(
        "--junitxml", type=_path, metavar="PATH", help="also write JUnit XML (clause ids as testcase properties)"
    )

    module = commands.add_parser(
        "check-module", help="check your own PyTorch module against the module contract (MOD-* clauses)"
    )
    module.add_argument("target", metavar="TARGET", help="package.module:attr or path/file.py:attr of a module factory")
    module.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="SHAPE",
        help="an input's shape, batch first, e.g. 4,6 (repeatable: one per forward argument)",
    )
    module.add_argument("--inputs", metavar="TARGET", help="module:attr of a hypothesis strategy or function of inputs")
    module.add_argument("--dtype", default="float32", help="the module's dtype (default: float32)")
    module.add_argument("--device", default="cpu", help="where the module is checked (default: cpu)")
    module.add_argument("--json", type=_path, metavar="PATH", help="write the per-clause result file here")
    module.add_argument("--junitxml", type=_path, metavar="PATH", help="also write JUnit XML")
    module.add_argument("--clause", action="append", default=[], metavar="ID", help="check only this clause")
    module.add_argument("--exclude", action="append", default=[], metavar="ID", help="leave this clause out")
    module.add_argument("--profile", choices=tuple(PROFILES), default="ci", help="hypothesis profile (default: ci)")
    module.add_argument("--seed", type=int, metavar="N", help="draw examples at random from this seed")
    module.add_argument(
        "--max-examples", type=int, metavar="N", help="at most N examples per clause (default: the profile's)"
    )
    module.add_argument(
        "--no-shrink", action="store_true", help="report failing examples as found, without shrinking (faster)"
    )
    _add_timeouts(module, "a test running longer is a hang (default: 300)")
    module.add_argument("--quiet", "-q", action="store_true", help="no progress lines; only the summary")

    interop = commands.add_parser(
        "interop", help="check checkpoint interop: each backend's safetensors file read by each other (INTEROP-*)"
    )
    interop.add_argument("--backends", default="reference,torch", help="comma-separated backends (every ordered pair)")
    interop.add_argument("--pair", action="append", default=[], metavar="A->B", help="check only this pair")
    interop.add_argument("--profile", choices=tuple(PROFILES), default="ci", help="hypothesis profile (default: ci)")
    interop.add_argument("--clause", action="append", default=[], metavar="ID", help="check only this clause")
    interop.add_argument(
        "--json", type=Path, metavar="PATH", help="write one interop file: a result per ordered pair (docs/interop.md)"
    )
    interop.add_argument("--seed", type=int, metavar="N", help="draw examples at random from this seed")
    _add_timeouts(interop, "per-test time limit (default: 300)")
    interop.add_argument(
        "--compile-cache",
        type=_path,
        metavar="DIR",
        help="keep the frameworks' compile cache here and reuse it in later runs "
        "(default: one fresh directory shared by this command's pairs, removed at its end)",
    )
    interop.add_argument("--quiet", "-q", action="store_true", help="no progress lines; only the summaries")
    spec = commands.add_parser("spec", help="print the clause catalogue as Markdown")
    spec.add_argument("--output", "-o", type=_path, metavar="PATH", help="write to a file instead of stdout")
    spec.add_argument(
        "--reach", action="store_true", help="print the reach audit instead: per clause, what is drawn and accepted"
    )

    backends = commands.add_parser("backends", help="list discoverable backends, their versions and capabilities")
    backends.add_argument(
        "names", nargs="*", metavar="BACKEND", help="list only these (names or package.module:attr; default: all)"
    )
    backends.add_argument(
        "--load-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="a backend still loading by then is listed as hung (each loads in a process of its own; default 120)",
    )

    kill = commands.add_parser(
        "kill-matrix", help="run mutant backends and print which clause each makes fail (from a checkout)"
    )
    kill.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="mutant modules, or module:Class for one mutant (default: tests/mutants/*_mutants.py here)",
    )
    kill.add_argument("-j", "--jobs", type=int, default=2, help="mutants run at once (default: 2)")
    kill.add_argument(
        "--clause", action="append", default=[], metavar="ID", help="only the mutants of this clause (repeatable)"
    )
    kill.add_argument("--list", action="store_true", help="list the mutants by clause without running them")
    kill.add_argument(
        "--shapes", choices=SHAPE_MODES, help="run each mutant with this --shapes (default: its backend's default)"
    )
    kill.add_argument(
        "--whole-suite",
        action="store_true",
        help="run every clause on each mutant (default: only the clauses whose tests read an attribute the mutant "
        "redefines, the others keeping the statuses of one traced run of its base backend)",
    )
    kill.add_argument("--json", type=_path, metavar="PATH", help="also write the verdict per mutant here")

    report = commands.add_parser("report", help="a Markdown report of result files (for a pull-request comment)")
    report.add_argument("results", nargs="+", type=_path, metavar="RESULT", help="result files, or directories of them")
    report.add_argument("--output", "-o", type=_path, metavar="PATH", help="write to a file instead of stdout")
    report.add_argument(
        "--max-chars",
        type=int,
        default=None,
        metavar="N",
        help="shorten the report to at most N characters (default: 60000, under GitHub's 65536 "
        "per comment; 0: never shorten)",
    )

    expect = commands.add_parser(
        "expect",
        help="compare a result file with a committed file of expected statuses (CI: an honest red vs a new one)",
    )
    expect.add_argument("result", type=Path, metavar="RESULT", help="a result file written by blockspec run --json")
    expect.add_argument("expected", type=Path, metavar="EXPECTED", help="the TOML file of expected statuses")
    expect.add_argument("--write", action="store_true", help="write EXPECTED from RESULT instead of comparing")

    dashboard = commands.add_parser("dashboard", help="a static HTML dashboard merging result files")
    dashboard.add_argument(
        "results", nargs="+", type=_path, metavar="RESULT", help="result files, or directories of them"
    )
    dashboard.add_argument("--output", "-o", type=_path, required=True, metavar="DIR", help="the site's directory")
    dashboard.add_argument("--coverage", type=_path, metavar="JSON", help="coverage.py's JSON report (coverage json)")
    dashboard.add_argument(
        "--coverage-html",
        type=_path,
        metavar="DIR",
        help="coverage.py's HTML report (coverage html), copied into the site",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blockspec`` console script and ``python -m conformance``."""
    args = _parser().parse_args(argv)
    install_interrupt()
    plugins_back = without_hypothesis_plugins()  # before anything imports hypothesis: every child inherits it
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate in a message must not end the run in a traceback
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        with signals_as_exit():  # SIGTERM/SIGHUP: temporary directories and children go too
            code = _command(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
        return code
    except BlockspecError as exc:
        from conformance._text import neutral

        print(f"blockspec: error: {neutral(str(exc))}", file=sys.stderr)  # it may quote a backend's output
        return 2
    except KeyboardInterrupt:
        print("blockspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (`blockspec spec | head`): drop the rest quietly, as Unix tools do.
        # Files (--json, --junitxml) are written before anything is printed, so none is cut short.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE's status in a shell
    finally:
        plugins_back()


def _command(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "spec":
        return _spec(args)
    if args.command == "check-module":
        return _check_module(args)
    if args.command == "interop":
        from conformance.interop.command import interop_command

        return interop_command(args)
    if args.command in ("report", "dashboard"):
        from conformance.report._command import dashboard_command, report_command

        return report_command(args) if args.command == "report" else dashboard_command(args)
    if args.command == "expect":
        from conformance.report.expect import expect_command

        return expect_command(args.result, args.expected, write=args.write)
    if args.command == "kill-matrix":
        from conformance._killmatrix import main as kill_matrix

        return kill_matrix(
            args.modules,
            jobs=args.jobs,
            json_path=args.json,
            cwd=Path.cwd(),
            clauses=tuple(args.clause),
            list_only=args.list,
            shapes=args.shapes,
            whole_suite=args.whole_suite,
        )
    return _backends(args.names, args.load_timeout)


def _add_timeouts(command: argparse.ArgumentParser, per_test: str) -> None:
    """``--timeout`` (per test) and ``--load-timeout`` (per test process, until the suite is collected)."""
    command.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help=per_test)
    command.add_argument(
        "--load-timeout",
        type=float,
        metavar="SECONDS",
        help="a test process that has not loaded the backend and collected the suite by then is a hang "
        "(default: the larger of 120 and --timeout)",
    )


def _run(args: argparse.Namespace) -> int:
    from conformance.run.cache import compile_cache
    from conformance.run.request import RunRequest

    request = RunRequest(
        args.backend,
        device=args.device,
        profile=args.profile,
        clauses=tuple(args.clause),
        json_path=args.json,
        junit_path=args.junitxml,
        verbose=args.verbose,
        shrink=not args.no_shrink,
        seed=args.seed,
        max_examples=args.max_examples,
        known_failures=args.known_failures,
        timeout=args.timeout,
        load_timeout=args.load_timeout,
        workers=args.workers,
        shapes=args.shapes,
        compile_cache=args.compile_cache,
    )
    request.validate()
    with compile_cache(request.compile_cache):
        return _run_request(request, in_process=args.in_process, quiet=args.quiet)


def _run_request(request: RunRequest, *, in_process: bool, quiet: bool) -> int:
    if in_process:
        if request.workers > 1:
            from conformance._errors import UsageError

            raise UsageError("-n runs tests in isolated processes; it cannot be combined with --in-process")
        from conformance.run.inprocess import run_suite

        result = run_suite(request)
    else:
        from conformance.run.isolate import run_isolated
        from conformance.run.summary import summary_lines

        result = run_isolated(request, quiet=quiet)
        print("\n".join(summary_lines(result)))
    if request.json_path is not None:
        print(f"result file: {request.json_path}")
    return result.exit_code


def module_request(args: argparse.Namespace) -> RunRequest:
    """The request ``blockspec check-module`` runs (``check_module`` makes the same of the same options)."""
    from conformance._errors import UsageError
    from conformance.modules import MODULE
    from conformance.modules._engine import selected_clauses
    from conformance.run.request import RunRequest

    selected = selected_clauses(args.clause or None, args.exclude)
    if selected == ():
        raise UsageError("--exclude leaves no module-contract clause to check (every --clause is excluded)")
    return RunRequest(
        args.target,
        subject=MODULE,
        input_shapes=tuple(args.input_shape),
        inputs=args.inputs,
        dtype=args.dtype,
        device=args.device,
        profile=args.profile,
        clauses=selected or (),
        json_path=args.json,
        junit_path=args.junitxml,
        seed=args.seed,
        max_examples=args.max_examples,
        shrink=not args.no_shrink,
        timeout=args.timeout,
        load_timeout=args.load_timeout,
    )


def _check_module(args: argparse.Namespace) -> int:
    from conformance.run.isolate import run_isolated
    from conformance.run.summary import summary_lines

    request = module_request(args)
    if not request.input_shapes and not request.inputs:
        from conformance._errors import UsageError

        raise UsageError("check-module needs --input-shape (e.g. --input-shape 4,6) or --inputs module:attr")
    result = run_isolated(request, quiet=args.quiet)
    print("\n".join(summary_lines(result)))
    from conformance._text import neutral
    from conformance.modules._subject import INFORMATIONAL

    for key, label in INFORMATIONAL.items():  # informational findings, never verdicts
        if key in result.environment:
            print(f"  {label}: {neutral(result.environment[key])}")
    if args.json is not None:
        print(f"result file: {args.json}")
    return result.exit_code


def _spec(args: argparse.Namespace) -> int:
    from spec import ALL, load_catalogue, render_catalogue

    if args.reach:
        from conformance.kit.reach import render_chapter

        text = render_chapter()
    else:
        text = render_catalogue(load_catalogue(subject=ALL))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    from conformance._files import write_text_atomic

    write_text_atomic(args.output, text)
    return 0


def _backends(names: Sequence[str], load_timeout: float) -> int:
    """List ``names`` (default every known backend), each loaded in a process of its own, side by side.

    A backend that hangs, exits or crashes while it loads is listed as not importable with the reason; the
    listing goes on (:func:`conformance.run.isolate.probe_backends`).
    """
    import math

    from conformance._discovery import known_backends, resolve
    from conformance._errors import UsageError
    from conformance.run.isolate import probe_backends

    if not (math.isfinite(load_timeout) and load_timeout > 0):
        raise UsageError(f"--load-timeout must be a positive number of seconds, got {load_timeout!r}")
    entries = [resolve(name) for name in names] if names else known_backends()
    with signals_as_exit():
        answers = probe_backends([entry.name for entry in entries], load_timeout)
    for entry, answer in zip(entries, answers, strict=True):
        if "error" in answer:
            print(f"{entry.name:12} {entry.source:12} not importable: {answer['error']}")
            continue
        caps = ", ".join(answer["capabilities"]) or "(none)"
        print(f"{entry.name:12} {entry.source:12} {answer['version']:16} devices: {answer['devices']}")
        print(f"{'':12} capabilities: {caps}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
