"""Finding and validating backends: built-in names, ``module:attr``, entry points, protocol errors."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import (
    BUILTIN,
    CAPABILITY_MEMBERS,
    ENTRY_POINT_GROUP,
    REQUIRED_MEMBERS,
    BackendImportError,
    BackendProtocolError,
    BlockspecError,
    UnknownBackendError,
    UsageError,
    known_backends,
    load_backend,
)
from conformance._discovery import validate
from conformance._protocol import checkpoint_suffix, missing_members
from spec import CAPABILITIES
from tests.helpers import ADAPTERS_DIR


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The fake adapter module, importable as ``fake_adapters``."""
    monkeypatch.syspath_prepend(str(ADAPTERS_DIR))
    import fake_adapters

    module: types.ModuleType = fake_adapters
    return module


def test_torch_loads_by_name() -> None:
    from conformance.backends.torch import TorchBackend

    backend = load_backend("torch")
    kind: type = type(backend)
    assert kind is TorchBackend, f"observed {kind}; expected TorchBackend"
    assert backend.name == "torch", f"observed name {backend.name!r}; expected 'torch'"
    missing = missing_members(backend)
    assert missing == [], f"observed missing protocol members {missing}; expected none"


def test_builtins_are_known() -> None:
    entries = {e.name: e for e in known_backends()}
    for name in ("torch", "reference"):
        assert name in entries, f"observed known backends {sorted(entries)}; expected {name!r} among them"
        assert entries[name].source == "built-in", f"observed {entries[name]}; expected a built-in"
        assert entries[name].target == BUILTIN[name], f"observed {entries[name]}; expected target {BUILTIN[name]}"


def test_unknown_name_lists_known_backends() -> None:
    with pytest.raises(UnknownBackendError) as info:
        load_backend("no-such-backend")
    assert {"torch", "reference"} <= set(info.value.known), f"observed known={info.value.known}"
    assert isinstance(info.value, UsageError), "observed an error that is not a UsageError"


@pytest.mark.parametrize(
    ("target", "check"),
    [
        ("fake_adapters:MinimalBackend", lambda m, b: type(b) is m.MinimalBackend),
        ("fake_adapters:INSTANCE", lambda m, b: b is m.INSTANCE),
        ("fake_adapters:make_backend", lambda m, b: type(b) is m.MinimalBackend),
        ("fake_adapters:NAMESPACE.backend", lambda m, b: b is m.NAMESPACE.backend),
    ],
    ids=["class", "instance", "factory", "dotted-attribute"],
)
def test_module_attr_forms(target: str, check: Callable[[Any, Any], bool], fakes: types.ModuleType) -> None:
    backend = load_backend(target)
    assert check(fakes, backend), f"observed {backend!r} for {target}; expected the adapter it names"
    assert backend.name == "minimal-fake", f"observed name {backend.name!r}; expected 'minimal-fake'"


def _fake_distribution(root: Path, entry_points: dict[str, str]) -> None:
    info = root / "blockspec_fake_backends-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: blockspec-fake-backends\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_entry_point_backend_is_discovered_and_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: types.ModuleType
) -> None:
    _fake_distribution(tmp_path, {"fake-ep": "fake_adapters:MinimalBackend"})
    monkeypatch.syspath_prepend(str(tmp_path))
    entries = {e.name: e for e in known_backends()}
    assert "fake-ep" in entries, f"observed known backends {sorted(entries)}; expected the entry point 'fake-ep'"
    assert entries["fake-ep"].source == "entry point", f"observed {entries['fake-ep']}; expected an entry point"
    assert entries["fake-ep"].target == "fake_adapters:MinimalBackend", f"observed {entries['fake-ep']}"
    backend = load_backend("fake-ep")
    assert type(backend) is fakes.MinimalBackend, f"observed {type(backend)}; expected MinimalBackend"


def test_entry_point_cannot_shadow_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: types.ModuleType
) -> None:
    from conformance.backends.torch import TorchBackend

    _fake_distribution(tmp_path, {"torch": "fake_adapters:MinimalBackend"})
    monkeypatch.syspath_prepend(str(tmp_path))
    torch_entries = [e for e in known_backends() if e.name == "torch"]
    assert [e.source for e in torch_entries] == ["built-in"], f"observed {torch_entries}; expected the built-in only"
    kind: type = type(load_backend("torch"))
    assert kind is TorchBackend, f"observed {kind}; expected the built-in TorchBackend"


def test_entry_points_without_the_distribution_are_gone() -> None:
    """The fake distributions above live only while their test runs (no leak into later tests)."""
    names = [e.name for e in known_backends()]
    assert "fake-ep" not in names, f"observed {names}; expected no fake entry point outside its test"


# --- protocol validation ---------------------------------------------------------------------------------

DATA_MEMBERS = {"name": "fake", "float_dtypes": ("float32",), "dtypes": ("float32",)}


def _stub(self: object, *args: object, **kwargs: object) -> None:
    raise NotImplementedError


def _adapter_class(drop: set[str], capabilities: frozenset[str]) -> type:
    members: dict[str, Any] = {"capabilities": capabilities}
    every = set(REQUIRED_MEMBERS) | {m for ms in CAPABILITY_MEMBERS.values() for m in ms}
    for member in every - drop - {"capabilities"}:
        members[member] = DATA_MEMBERS.get(member, _stub)
    return type("DrawnAdapter", (), members)


@given(data=st.data())
def test_protocol_error_names_exactly_the_missing_members(data: st.DataObject) -> None:
    droppable = [m for m in REQUIRED_MEMBERS if m != "capabilities"]
    drop = set(data.draw(st.sets(st.sampled_from(droppable), max_size=5), label="dropped required members"))
    declared = data.draw(st.frozensets(st.sampled_from(sorted(CAPABILITIES))), label="declared capabilities")
    unknown = data.draw(
        st.frozensets(st.sampled_from(["telepathy", "gpu", "Apply", "jit"]), max_size=2), label="unknown capabilities"
    )
    capability_members = sorted({m for ms in CAPABILITY_MEMBERS.values() for m in ms})
    drop |= data.draw(st.sets(st.sampled_from(capability_members), max_size=4), label="dropped capability members")
    expected = {f"missing {m}" for m in drop if m in REQUIRED_MEMBERS}
    for capability, members in CAPABILITY_MEMBERS.items():
        if capability in declared:
            expected |= {f"missing {m} (for {capability})" for m in members if m in drop}
    adapter = _adapter_class(drop, declared | unknown)()
    if not expected and not unknown:
        validate("drawn", adapter)  # nothing wrong: nothing raised
        return
    with pytest.raises(BackendProtocolError) as info:
        validate("drawn", adapter)
    problems = info.value.problems
    observed = {p for p in problems if p.startswith("missing ")}
    assert observed == expected, f"observed {sorted(observed)}; expected {sorted(expected)}"
    for name in unknown:
        assert any(name in p for p in problems), f"observed {problems}; expected unknown capability {name!r} named"
    for problem in problems:
        assert problem in str(info.value), f"observed message {info.value}; expected it to contain {problem!r}"


def test_incomplete_adapter_via_module_attr(fakes: types.ModuleType) -> None:
    with pytest.raises(BackendProtocolError) as info:
        load_backend("fake_adapters:Incomplete")
    error = info.value
    assert error.name == "fake_adapters:Incomplete", f"observed name {error.name!r}; expected the target"
    missing = [m for m in REQUIRED_MEMBERS if m not in fakes.INCOMPLETE_HAS]
    for member in missing:
        assert f"missing {member}" in error.problems, f"observed {error.problems}; expected 'missing {member}'"
    for member in CAPABILITY_MEMBERS["file-io"]:
        wanted = f"missing {member} (for file-io)"
        assert wanted in error.problems, f"observed {error.problems}; expected {wanted!r}"
    assert any("telepathy" in p for p in error.problems), f"observed {error.problems}; expected 'telepathy' named"


@pytest.mark.parametrize(
    ("capabilities", "fragment"),
    [(["apply"], "frozenset"), ("apply", "frozenset")],
    ids=["list", "string"],
)
def test_capabilities_must_be_a_set(capabilities: object, fragment: str) -> None:
    adapter = _adapter_class(set(), frozenset())()
    adapter.capabilities = capabilities
    with pytest.raises(BackendProtocolError) as info:
        validate("bad-caps", adapter)
    assert any(fragment in p for p in info.value.problems), f"observed {info.value.problems}; expected {fragment!r}"


def test_adapter_that_raises_on_import(fakes: types.ModuleType) -> None:
    with pytest.raises(BackendImportError) as info:
        load_backend("exploding_adapter:Backend")
    error = info.value
    assert error.target == "exploding_adapter:Backend", f"observed target {error.target!r}"
    assert "RuntimeError" in error.reason, f"observed reason {error.reason!r}; expected the exception type"
    assert "libfake.so not found" in error.reason, f"observed reason {error.reason!r}; expected the exception text"
    assert error.reason in str(error), f"observed message {error}; expected it to contain the reason"


def test_adapter_whose_constructor_raises(fakes: types.ModuleType) -> None:
    with pytest.raises(BackendImportError) as info:
        load_backend("fake_adapters:RaisingInit")
    assert "OSError" in info.value.reason, f"observed reason {info.value.reason!r}; expected OSError named"
    assert "no driver" in info.value.reason, f"observed reason {info.value.reason!r}; expected the exception text"


def test_every_discovery_error_is_a_blockspec_error() -> None:
    for error in (UnknownBackendError, BackendImportError, BackendProtocolError):
        assert issubclass(error, BlockspecError), f"observed {error.__mro__}; expected BlockspecError in it"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [(None, ""), ("", ""), (".weights.h5", ".weights.h5"), (".pt", ".pt")],
    ids=["undeclared", "empty", "keras", "pt"],
)
def test_checkpoint_suffix_is_the_declared_ending(declared: str | None, expected: str) -> None:
    adapter = types.SimpleNamespace() if declared is None else types.SimpleNamespace(checkpoint_suffix=declared)
    observed = checkpoint_suffix(adapter)
    assert observed == expected, f"observed checkpoint_suffix {observed!r}; expected {expected!r}"


@pytest.mark.parametrize("bad", [3, b".h5", "../x.weights.h5", "dir\\x.h5", None], ids=repr)
def test_checkpoint_suffix_that_is_not_a_name_ending_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="Expected checkpoint_suffix") as info:
        checkpoint_suffix(types.SimpleNamespace(checkpoint_suffix=bad))
    assert repr(bad) in str(info.value), f"observed {info.value}; expected it to show the value {bad!r}"


def test_module_checkpoint_members_are_named_when_missing() -> None:
    """An adapter declaring module-checkpoint without save_checkpoint/load_checkpoint is told which."""
    adapter = types.SimpleNamespace(
        **{**dict.fromkeys(REQUIRED_MEMBERS), "capabilities": frozenset({"module-checkpoint"})}
    )
    observed = missing_members(adapter)
    expected = [f"{m} (for module-checkpoint)" for m in CAPABILITY_MEMBERS["module-checkpoint"]]
    assert observed == expected, f"observed missing {observed}; expected {expected}"
