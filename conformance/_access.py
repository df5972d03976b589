"""Which attributes of a backend each clause's tests read: the kill matrix's shortcut.

A mutant is a subclass of a built-in backend that redefines a few attributes
(``forward``, ``linear_class``, ``load_state_dict``...). A test that never
reads any of them runs the same code on the mutant as on its base, with the
same derandomized draws, so it ends as it did on the base. One traced run of
the base records, per clause, every attribute its tests read on the backend
(methods, class attributes, optional members probed with ``getattr``); a
mutant then runs only the clauses that read something it redefines, and
every other clause keeps the status the base run gave it.

The chapter's blocks are one attribute, ``blocks``, that most clauses read
(every build goes through it); a mutant usually replaces one block of it. So
the trace records ``blocks.NAME`` for each member read, and a mutant's
``blocks`` counts as redefining only the members that differ from its base's.

A read that no single clause owns (while the session, a collection hook or a
fixture broader than one test runs) goes to :attr:`AccessTrace.shared`; a
mutant that redefines one of those, or any dunder (Python looks dunders up on
the type, past ``__getattribute__``), runs the whole suite.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Generator, Iterable
from typing import Any

import pytest

from conformance._protocol import missing_members
from conformance.run.session import clause_of

#: What a class body defines that is not behaviour: Python's bookkeeping, and a mutant's (what it breaks, where).
_BOOKKEEPING = frozenset(
    {"target", "region", "needs_accelerator", "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}
    | {"__annotations__", "__firstlineno__", "__static_attributes__"}
)
#: The backend attribute holding the chapter's blocks (``Backend.blocks``): its members are traced one by one.
BLOCKS = "blocks"
_ABSENT = object()


class AccessTrace:
    """A pytest plugin that files each read of the traced backend class under the clause being tested."""

    def __init__(self) -> None:
        self.by_clause: dict[str, set[str]] = {}
        self.shared: set[str] = set()
        self._clause: str | None = None
        self._broad = 0  # depth of fixtures broader than one test now being set up
        self._filed = self.shared  # where a read is filed now: a name already there is not looked at again

    def install(self, cls: type) -> None:
        """Record every attribute read on instances of ``cls`` (this process only: it is patched in place)."""
        plain: Any = cls.__getattribute__
        trace = self
        presence = missing_members.__code__  # loading checks that members exist; a mutant keeps them all

        def __getattribute__(obj: Any, name: str) -> Any:
            if name in trace._filed:  # the usual case, and the cheap one: the backend reads its own members often
                return plain(obj, name)
            caller = sys._getframe(1)
            while caller.f_code.co_name.startswith("<") and caller.f_back is not None:  # a comprehension's frame
                caller = caller.f_back
            if caller.f_code is not presence:
                trace.record(name)
            return plain(obj, name)

        setattr(cls, "__getattribute__", __getattribute__)  # noqa: B010 - the slot itself is replaced
        namespace = inspect.getattr_static(cls, BLOCKS, None)
        if namespace is not None:  # the same members, in a namespace that files each read as blocks.NAME

            class Blocks(types.SimpleNamespace):
                def __getattribute__(self, name: str) -> Any:
                    if not name.startswith("__"):
                        trace.record(f"{BLOCKS}.{name}")
                    return super().__getattribute__(name)

            setattr(cls, BLOCKS, Blocks(**_members(namespace)))

    def record(self, name: str) -> None:
        self._filed.add(name)

    def _refile(self) -> None:
        """File reads from now on under the clause being tested, or as shared outside one (or in a broad fixture)."""
        if self._clause is None or self._broad:
            self._filed = self.shared
        else:
            self._filed = self.by_clause.setdefault(self._clause, set())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        self._clause = clause_of(item)
        self._refile()
        try:
            return (yield)
        finally:
            self._clause = None
            self._refile()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: Any) -> Generator[None, Any, Any]:
        broad = fixturedef.scope != "function"
        self._broad += broad
        self._refile()
        try:
            return (yield)
        finally:
            self._broad -= broad
            self._refile()

    def as_json(self) -> dict[str, Any]:
        return {
            "shared": sorted(self.shared),
            "by_clause": {c: sorted(n) for c, n in sorted(self.by_clause.items()) if n},
        }


def base_backend(cls: type) -> type:
    """The built-in backend ``cls`` derives from: the first class of its MRO defined in ``conformance``."""
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == "conformance":
            return klass
    raise TypeError(f"{cls.__qualname__} derives from no backend of conformance.backends")


def redefined(cls: type) -> set[str]:
    """The attributes ``cls`` (a mutant) and its classes above its base backend define anew.

    A redefined ``blocks`` counts as the members it changes (``blocks.NAME``: replaced, added or removed).
    """
    base = base_backend(cls)
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        if klass not in base.__mro__:  # mixins too, wherever they stand in the MRO
            names |= set(vars(klass))
    if BLOCKS in names:
        ours = _members(inspect.getattr_static(cls, BLOCKS))
        theirs = _members(inspect.getattr_static(base, BLOCKS, None))
        changed = {n for n in ours.keys() | theirs.keys() if ours.get(n, _ABSENT) is not theirs.get(n, _ABSENT)}
        names = names - {BLOCKS} | {f"{BLOCKS}.{n}" for n in changed}
    return names - _BOOKKEEPING


def _members(namespace: Any) -> dict[str, Any]:
    """The public members of a blocks namespace (a module or a ``types.SimpleNamespace``)."""
    if namespace is None:
        return {}
    return {n: getattr(namespace, n) for n in dir(namespace) if not n.startswith("__")}


def clauses_to_run(trace: dict[str, Any], changed: Iterable[str]) -> set[str] | None:
    """The clauses whose tests read one of ``changed``; None when the whole suite must run."""
    changed = set(changed)
    if any(name.startswith("__") for name in changed) or changed & set(trace["shared"]):
        return None
    return {clause for clause, names in trace["by_clause"].items() if changed & set(names)}
