"""What to run: the subject, device, clauses, profile, seed and manifest; validated once, before pytest starts.

A :class:`RunRequest` is the whole of a run's input. ``validate`` checks what
needs no backend (clause ids, profile, timeout, output paths);
``prepare`` also loads the backend and resolves the device and the known
failures, and is called once in the process that runs the suite: the
in-process runner hands its :class:`Prepared` to the session directly, an
isolated child prepares from its own command line.
"""

from __future__ import annotations

import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from conformance._errors import UsageError
from conformance._files import check_distinct, check_writable
from conformance._manifest import KnownFailure
from conformance._protocol import Backend
from conformance.kit.profiles import MAX_EXAMPLES_CAP, PROFILES
from conformance.kit.profiles import SHAPE_MODES as SHAPES
from conformance.run.subjects import FRAMEWORK, Checked, Subject
from spec import Catalogue

#: Seconds one test may run before it counts as hung (``--timeout``).
DEFAULT_TIMEOUT_S = 300.0
#: The least time loading the backend gets (``--load-timeout``'s default, unless ``--timeout`` is longer):
#: importing a framework and collecting the suite is not a test, and on a busy machine it takes tens of seconds.
DEFAULT_LOAD_TIMEOUT_S = 120.0
#: The most test processes ``-n`` may start: past the cores of any machine the suite runs on, more
#: processes only share the same cores and each one imports the framework again.
MAX_WORKERS = 64
#: Where a compile cache cannot live: the kernel's own file systems.
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")
#: The share of the timeout a failure's shrinking may take: a failure found in the rest is never lost.
SHRINK_SHARE = 0.4

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class RunRequest:
    """One conformance run: which backend and device, which clauses, how to draw and where to report."""

    target: str
    device: str | None = None  # None: the subject's host device (``Backend.host_device``: "cpu", tinygrad's "CPU")
    profile: str = "ci"
    clauses: tuple[str, ...] = ()
    json_path: Path | None = None
    junit_path: Path | None = None
    verbose: bool = False
    shrink: bool = True
    seed: int | None = None
    known_failures: Path | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    #: Seconds a test process may take to load the backend and collect the suite (``--load-timeout``);
    #: None: the larger of :data:`DEFAULT_LOAD_TIMEOUT_S` and ``timeout``.
    load_timeout: float | None = None
    #: Test processes run at once (``-n``; pytest-xdist), each test still isolated and timed on its own.
    workers: int = 1
    #: How sizes are drawn: ``palette`` (a few per run, :class:`conformance.kit.strategies.Palette`) or
    #: ``full``; None: ``palette`` for a backend with ``compiles_per_shape``, ``full`` otherwise.
    shapes: str | None = None
    #: Where the framework keeps its compile cache (``--compile-cache``): None gives each run a fresh one.
    compile_cache: Path | None = None
    #: What kind of thing is checked, and what the pipeline asks of it (:mod:`conformance.run.subjects`):
    #: a framework through its adapter (the default), a user's module factory, or a pair of frameworks.
    subject: Subject = FRAMEWORK
    #: For a module: the input shapes (batch first: ``(4, 6)`` or ``"4,6"``; the module subject parses them),
    #: dtype and an optional ``module:attr`` of example inputs.
    input_shapes: tuple[str | tuple[int, ...], ...] = ()
    dtype: str = "float32"
    inputs: str | None = None
    #: The most examples per test (None: the profile's); a test that draws fewer keeps its own number.
    max_examples: int | None = None

    @property
    def load_limit(self) -> float:
        """Seconds a test process may take from its start to its first sign (the suite collected)."""
        return self.load_timeout if self.load_timeout is not None else max(DEFAULT_LOAD_TIMEOUT_S, self.timeout)

    @property
    def suite(self) -> str:
        """The package of conformance tests this request runs."""
        return self.subject.suite

    def catalogue(self) -> Catalogue:
        """The clauses this kind of subject is checked against."""
        return self.subject.catalogue()

    def validate(self, catalogue: Catalogue | None = None) -> Catalogue:
        """Refuse what is wrong without loading the backend; return the catalogue."""
        self.subject.validate(self)
        catalogue = catalogue if catalogue is not None else self.catalogue()
        unknown = [c for c in self.clauses if c not in catalogue]
        if unknown:
            shown = ", ".join(repr(c[:60]) for c in unknown[:5])
            raise UsageError(f"unknown clause id(s) {shown}; `blockspec spec` lists them all")
        if self.profile not in PROFILES:
            raise UsageError(f"unknown profile {self.profile!r}; expected one of {', '.join(PROFILES)}")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout!r}")
        if self.load_timeout is not None and not (math.isfinite(self.load_timeout) and self.load_timeout > 0):
            raise UsageError(f"--load-timeout must be a positive number of seconds, got {self.load_timeout!r}")
        if self.shapes not in (None, *SHAPES):
            raise UsageError(f"unknown --shapes {self.shapes!r}; expected one of {', '.join(SHAPES)}")
        if self.compile_cache is not None:
            check_cache_directory(self.compile_cache)
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(
                f"-n must be between 1 and {MAX_WORKERS} test processes, got {self.workers} "
                f"(this machine has {os.cpu_count() or 1} cores; more processes than cores only wait for them)"
            )
        if self.workers > 1:
            import importlib.util

            if importlib.util.find_spec("xdist") is None:
                raise UsageError("-n needs pytest-xdist: pip install pytest-xdist (or blockspec[test])")
        if self.max_examples is not None and not 1 <= self.max_examples <= MAX_EXAMPLES_CAP:
            raise UsageError(f"--max-examples must be between 1 and {MAX_EXAMPLES_CAP}, got {self.max_examples}")
        if self.seed is not None and not 0 <= self.seed < 2**64:
            raise UsageError(f"--seed must be between 0 and 2**64 - 1, got {self.seed}")
        for path in (self.json_path, self.junit_path):
            if path is not None:
                check_writable(path)
        check_distinct({"--json": self.json_path, "--junitxml": self.junit_path})
        return catalogue

    def prepare(self) -> Prepared:
        """Validate everything, load the subject, check the device, read the known failures."""
        catalogue = self.validate()
        subject, known, device = self.subject.load(self, catalogue)
        return Prepared(self, catalogue, subject, known, device)

    def rerun_template(self) -> str:
        """The command that reruns one clause of this run, with ``{clause}`` to fill in."""
        extra = self.rerun_extra()
        tail = _braces_kept(f" {extra}" if extra else "")
        head = _braces_kept(self.subject.command(self))  # a target's braces stay braces
        notes = _braces_kept("".join(f"\n  ({note})" for note in self.subject.rerun_notes(self)))
        return f"{head} --profile {self.profile}{tail} --clause {{clause}}{notes}"

    def rerun_extra(self) -> str:
        """The options a rerun of one clause must repeat to see what this run saw."""
        extra = []
        if self.seed is not None:
            extra.append(f"--seed {self.seed}")
        if self.max_examples is not None:
            extra.append(f"--max-examples {self.max_examples}")
        if not self.shrink:
            extra.append("--no-shrink")
        if self.shapes is not None:
            extra.append(f"--shapes {self.shapes}")
        if self.known_failures is not None:
            extra.append(f"--known-failures {shlex.quote(str(self.known_failures))}")
        return " ".join(extra)

    def pytest_arguments(self, *, terminal: bool = True) -> list[str]:
        """The pytest command line (after ``pytest``) that runs the conformance suite.

        ``terminal`` False: pytest prints nothing (its terminal plugin is not loaded).
        """
        args = [
            "--pyargs",
            self.suite,
            "-c",
            os.devnull,
            "--rootdir",
            str(_PACKAGE_PARENT),
            "-p",
            "no:cacheprovider",
            # No plugin another package installed joins the run: one that reorders or reseeds tests
            # (pytest-randomly), reruns failures (pytest-rerunfailures) or kills slow ones would change
            # a verdict, and loading each costs every test process time. The plugins the suite needs are
            # loaded by module, so a run also works from a checkout that is not installed (PYTHONPATH=.).
            # Blocking the entry point names first keeps an installed copy from registering twice.
            "--disable-plugin-autoload",
            # pytest's collection of unraisable exceptions runs the garbage collector over a loaded
            # framework at the end of each test process (a quarter second); no verdict reads it.
            *("-p", "no:unraisableexception"),
            *("-p", "no:blockspec", "-p", "conformance.plugin"),
            *("-p", "no:hypothesispytest", "-p", "_hypothesis_pytestplugin"),
            # The suite asserts through Check, whose messages say what was observed and expected: nothing
            # of it needs pytest's assert rewriting, which recompiles every test module on each start
            # where no bytecode is written (python -B, PYTHONDONTWRITEBYTECODE: a second per run).
            "--assert=plain",
            # Only the suite's own fixtures: pytest would import the conftest.py of the directory it is
            # started in and of its test*/ folders (a user's project, this checkout's tests/) into every
            # run, where a hook, an autouse fixture or a hypothesis profile loaded there changes a verdict.
            *("--noconftest", "-p", f"{self.suite}.conftest"),
            self.subject.option,
            self.target,
            *(("--blockspec-device", self.device) if self.device else ()),
            "--blockspec-profile",
            self.profile,
        ]
        if not terminal:
            args += ["-p", "no:terminal"]
        elif self.verbose:
            args += ["-v", "--tb=short"]
        else:
            args += ["-q", "--tb=no", "--no-header", "-rN"]
        for clause in self.clauses:
            args += ["--blockspec-clause", clause]
        if self.json_path is not None:
            args += ["--blockspec-json", str(self.json_path)]
        if not self.shrink:
            args.append("--blockspec-no-shrink")
        if self.shapes is not None:
            args += ["--blockspec-shapes", self.shapes]
        args += ["--blockspec-timeout", repr(self.timeout)]
        if self.workers > 1:  # xdist loaded by module too, like the other plugins (see above)
            args += ["-p", "no:xdist", "-p", "xdist.plugin", "-n", str(self.workers)]
        if self.seed is not None:
            args += ["--blockspec-seed", str(self.seed), f"--hypothesis-seed={self.seed}"]
        if self.known_failures is not None:
            args += ["--blockspec-known-failures", str(self.known_failures)]
        if self.max_examples is not None:
            args += ["--blockspec-max-examples", str(self.max_examples)]
        return args + self.subject.arguments(self)

    @classmethod
    def from_pytest_options(cls, config: Any, subject: Subject = FRAMEWORK) -> RunRequest:
        """The request a pytest command line describes (the ``--blockspec-*`` options of ``conformance.plugin``).

        ``subject``: the kind the command line names (the plugin tells it by the option given).
        """

        def path(option: str) -> Path | None:
            value = config.getoption(option)
            return Path(value) if value else None

        return cls(
            config.getoption(subject.option.removeprefix("--").replace("-", "_")),
            subject=subject,
            input_shapes=tuple(config.getoption("blockspec_input_shape") or ()),
            dtype=config.getoption("blockspec_dtype"),
            inputs=config.getoption("blockspec_inputs"),
            device=config.getoption("blockspec_device"),
            profile=config.getoption("blockspec_profile"),
            clauses=tuple(config.getoption("blockspec_clause") or ()),
            json_path=path("blockspec_json"),
            shrink=not config.getoption("blockspec_no_shrink"),
            shapes=config.getoption("blockspec_shapes"),
            seed=config.getoption("blockspec_seed"),
            timeout=config.getoption("blockspec_timeout"),
            known_failures=path("blockspec_known_failures"),
            max_examples=config.getoption("blockspec_max_examples", None),
        )


@dataclass(frozen=True)
class Prepared:
    """A validated request with what validating it loaded: the catalogue, the subject, its known failures.

    The subject is what the request's :class:`~conformance.run.subjects.Subject` loaded: a
    :class:`~conformance._protocol.Backend`, a module under check, or a pair of frameworks; the
    pipeline reads of it only what :class:`~conformance.run.subjects.Checked` names.
    """

    request: RunRequest
    catalogue: Catalogue
    subject: Checked
    known: dict[str, KnownFailure]
    device: str  # the request's device, or the subject's host device when none was asked for

    @property
    def backend(self) -> Backend:
        """The subject of a framework run (what the framework suite's ``backend`` fixture hands its tests)."""
        return cast("Backend", self.subject)

    @property
    def selected(self) -> frozenset[str] | None:
        return frozenset(self.request.clauses) or None


def check_cache_directory(path: Path) -> None:
    """A usage error unless ``path`` is, or can become, a directory this run can write files in."""
    if not str(path).strip():
        raise UsageError("--compile-cache needs a directory; got an empty path")
    resolved = Path(os.path.realpath(path))
    if any(resolved == Path(d) or Path(d) in resolved.parents for d in _SYSTEM_DIRS):
        raise UsageError(f"--compile-cache {path}: {resolved} is on a kernel file system ({', '.join(_SYSTEM_DIRS)})")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--compile-cache {path} exists and is not a directory")
    existing = next((p for p in (resolved, *resolved.parents) if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--compile-cache {path}: cannot make the directory ({existing} is not a writable directory)")


def _braces_kept(text: str) -> str:
    """``text`` for a ``str.format`` template: its own braces come out as written."""
    return text.replace("{", "{{").replace("}", "}}")
