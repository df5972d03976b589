"""conformance._interop: a pair ``A->B`` is split, named, loaded side by side, and finds its known failures.

``tests/interop/test_command.py`` runs pairs through the command; here each function of the module is pinned
on stand-in backends (only the members a pair reads).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import _interop
from conformance._errors import UnknownBackendError, UsageError
from conformance._interop import SEPARATOR, Pair, load_pair, offers_interop, split_pair
from conformance._protocol import INTEROP_MEMBERS
from spec import load_catalogue

#: A side's name as written on the command line: a backend name or package.module:attr, no "->" in it.
SIDES = st.from_regex(r"[a-z][a-z0-9_.]{0,10}(:[A-Za-z_][A-Za-z0-9_]{0,8})?", fullmatch=True)
SPACE = st.sampled_from(["", " ", "  ", "\t"])


def _side(name: str, **members: Any) -> Any:
    """A stand-in backend: a name, a version, an environment, and whatever else the case gives it."""
    defaults: dict[str, Any] = {"version": lambda: "1.0", "environment": lambda: {}}
    return SimpleNamespace(name=name, **{**defaults, **members})


def _raises(error: Exception) -> Any:
    def query() -> Any:
        raise error

    return query


def _manifest(path: Path, entries: dict[str, str]) -> Path:
    lines = [f'[[known_failure]]\nclause = "{clause}"\nreason = "{reason}"\n' for clause, reason in entries.items()]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@settings(max_examples=60, deadline=None)
@given(writer=SIDES, reader=SIDES, pads=st.tuples(SPACE, SPACE, SPACE, SPACE))
def test_a_pair_splits_into_its_writer_and_reader_with_spaces_dropped(
    writer: str, reader: str, pads: tuple[str, str, str, str]
) -> None:
    target = f"{pads[0]}{writer}{pads[1]}{SEPARATOR}{pads[2]}{reader}{pads[3]}"
    observed = split_pair(target)
    assert observed == (writer, reader), f"split_pair({target!r}): observed {observed}; expected {(writer, reader)}"


@pytest.mark.parametrize("target", ["torch", "torch->", "->flax", " -> ", "", "a->b->c", "torch=>flax"])
def test_anything_but_one_writer_and_one_reader_is_a_usage_error(target: str) -> None:
    with pytest.raises(UsageError) as caught:
        split_pair(target)
    message = str(caught.value)
    expected = f"a pair is written WRITER->READER (e.g. torch->flax); got {target!r}"
    assert message == expected, f"split_pair({target!r}): observed {message!r}; expected {expected!r}"


def test_a_refused_pair_quotes_at_most_80_characters_of_it() -> None:
    target = "x" * 500
    with pytest.raises(UsageError) as caught:
        split_pair(target)
    message = str(caught.value)
    assert message.endswith(f"got {'x' * 80!r}"), f"observed {message[-120:]!r}; expected the first 80 quoted"


@pytest.mark.parametrize(
    ("members", "lacking"),
    [
        ({"write_safetensors": print, "read_safetensors": print}, []),
        ({"write_safetensors": print}, ["read_safetensors"]),
        ({"write_safetensors": "not callable", "read_safetensors": print}, ["write_safetensors"]),
        ({"read_safetensors": None}, ["write_safetensors", "read_safetensors"]),
        ({}, list(INTEROP_MEMBERS)),
    ],
    ids=["both", "no reader", "a member that is not callable", "a member set to None", "neither"],
)
def test_offers_interop_lists_the_interop_members_a_backend_lacks(members: dict[str, Any], lacking: list[str]) -> None:
    observed = offers_interop(_side("x", **members))
    assert observed == lacking, f"members {sorted(members)}: observed lacking {observed}; expected {lacking}"


def test_a_pair_is_named_writer_then_reader_unless_named() -> None:
    writer, reader = _side("torch"), _side("flax")
    assert Pair(writer, reader).name == "torch->flax", f"observed {Pair(writer, reader).name!r}; expected 'torch->flax'"
    named = Pair(writer, reader, name="pkg.mod:A->flax")
    assert named.name == "pkg.mod:A->flax", f"observed {named.name!r}; expected the name given kept"


@pytest.mark.parametrize(
    ("writer", "reader", "expected"),
    [(True, False, True), (False, True, True), (False, False, False), (None, None, False)],
    ids=["writer compiles", "reader compiles", "neither", "neither declares it"],
)
def test_a_pair_compiles_per_shape_when_either_side_does(
    writer: bool | None, reader: bool | None, expected: bool
) -> None:
    sides = [
        _side(name) if flag is None else _side(name, compiles_per_shape=flag)
        for name, flag in (("a", writer), ("b", reader))
    ]
    observed = Pair(*sides).compiles_per_shape
    assert observed is expected, f"writer {writer}, reader {reader}: observed {observed}; expected {expected}"


def test_a_pairs_version_is_both_sides_and_a_failing_query_is_unknown() -> None:
    pair = Pair(_side("a", version=lambda: 2.13), _side("b", version=lambda: "0.10"))
    assert pair.version() == "2.13->0.10", f"observed {pair.version()!r}; expected '2.13->0.10'"
    broken = Pair(_side("a", version=_raises(RuntimeError("no driver"))), _side("b", version=lambda: "0.10"))
    assert broken.version() == "unknown->0.10", f"observed {broken.version()!r}; expected 'unknown->0.10'"


def test_a_pairs_environment_holds_both_sides_prefixed_and_a_failing_query_as_its_error() -> None:
    pair = Pair(_side("a", environment=lambda: {"torch": "2.13", "threads": 4}), _side("b", environment=lambda: {}))
    expected = {"writer_torch": "2.13", "writer_threads": "4"}
    assert pair.environment() == expected, f"observed {pair.environment()}; expected {expected}"
    broken = Pair(_side("a", environment=lambda: {"jax": "0.4"}), _side("b", environment=_raises(OSError("gone"))))
    expected = {"writer_jax": "0.4", "reader_environment": "OSError: gone"}
    assert broken.environment() == expected, f"observed {broken.environment()}; expected {expected}"


def test_known_failures_are_each_sides_own_when_no_manifest_is_given(tmp_path: Path) -> None:
    catalogue = load_catalogue(subject="interop")
    writes = _manifest(tmp_path / "writer.toml", {"INTEROP-TIES": "saves a tie twice"})
    reads = _manifest(tmp_path / "reader.toml", {"INTEROP-LAYOUT": "reads a transpose"})
    cases = {
        "both sides ship one": (str(writes), reads, {"INTEROP-TIES", "INTEROP-LAYOUT"}),
        "the writer alone": (writes, None, {"INTEROP-TIES"}),
        "the reader alone": ("", reads, {"INTEROP-LAYOUT"}),
        "neither": (None, None, set()),
    }
    for case, (writer_file, reader_file, expected) in cases.items():
        writer = _side("w", interop_writer_failures=writer_file, interop_reader_failures=reads)  # reads: not its role
        reader = _side("r", interop_reader_failures=reader_file, interop_writer_failures=writes)
        known = Pair(writer, reader).known(catalogue, None)
        assert set(known) == expected, f"{case}: observed known failures {sorted(known)}; expected {sorted(expected)}"
    known = Pair(_side("w", interop_writer_failures=writes), _side("r")).known(catalogue, None)
    reason = known["INTEROP-TIES"].reason
    assert reason == "saves a tie twice", f"observed reason {reason!r}; expected the manifest's"


def test_a_manifest_given_replaces_what_the_sides_ship(tmp_path: Path) -> None:
    catalogue = load_catalogue(subject="interop")
    shipped = _manifest(tmp_path / "shipped.toml", {"INTEROP-TIES": "shipped"})
    given_file = _manifest(tmp_path / "given.toml", {"INTEROP-KEYS": "given on the command line"})
    pair = Pair(_side("w", interop_writer_failures=shipped), _side("r", interop_reader_failures=shipped))
    known = pair.known(catalogue, given_file)
    assert set(known) == {"INTEROP-KEYS"}, f"observed {sorted(known)}; expected only the given manifest's clause"


def test_a_shipped_manifest_naming_no_interop_clause_is_a_usage_error(tmp_path: Path) -> None:
    catalogue = load_catalogue(subject="interop")
    wrong = _manifest(tmp_path / "wrong.toml", {"TIE-GRAD-SUM": "a framework clause, not an interop one"})
    pair = Pair(_side("w", interop_writer_failures=wrong), _side("r"))
    with pytest.raises(UsageError, match="names no clause of the catalogue"):
        pair.known(catalogue, None)


def test_load_pair_loads_each_side_by_its_name_and_names_the_pair_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    def load_backend(target: str) -> Any:
        loaded.append(target)
        return _side(f"adapter of {target}")

    monkeypatch.setattr(_interop, "load_backend", load_backend)
    pair = load_pair(" pkg.mod:W -> torch ")
    assert loaded == ["pkg.mod:W", "torch"], f"observed sides loaded {loaded}; expected writer then reader"
    observed = (pair.name, pair.writer.name, pair.reader.name)
    expected = ("pkg.mod:W->torch", "adapter of pkg.mod:W", "adapter of torch")
    assert observed == expected, f"observed (name, writer, reader) {observed}; expected {expected}"


def test_load_pair_refuses_a_malformed_pair_before_loading_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    monkeypatch.setattr(_interop, "load_backend", loaded.append)
    with pytest.raises(UsageError, match="WRITER->READER"):
        load_pair("torch")
    assert loaded == [], f"observed sides loaded {loaded}; expected none for a malformed pair"


def test_load_pair_of_an_unknown_side_is_the_unknown_backend_error() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        load_pair("nosuch->reference")
    assert caught.value.name == "nosuch", f"observed the error naming {caught.value.name!r}; expected 'nosuch'"


def test_load_pair_of_a_real_backend_with_itself_loads_two_adapters() -> None:
    pair = load_pair("reference->reference")
    assert pair.writer is not pair.reader, "observed one adapter object on both sides; expected one per side"
    assert pair.version().count(SEPARATOR) == 1 and "unknown" not in pair.version(), (
        f"observed version {pair.version()!r}; expected the reference's version on each side"
    )
    assert offers_interop(pair.writer) == [], f"observed the reference lacking {offers_interop(pair.writer)}"
