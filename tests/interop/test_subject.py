"""conformance.interop.subject: a pair ``A->B`` as the subject of a run: what loading it gives the pipeline
(the pair, its known failures, its device) and the command that reruns it.

Which suite and option a pair's run takes is tested with the other subjects in tests/run/test_subjects.py.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance._errors import UnknownBackendError, UsageError
from conformance._interop import Pair
from conformance._manifest import KnownFailure
from conformance.backends.reference import ReferenceBackend
from conformance.interop.subject import PAIR
from conformance.run.request import RunRequest
from spec import load_catalogue

#: A manifest of a writer's known departures, shipped beside an adapter (read here, never imported).
_WRITER_MANIFEST = Path(__file__).resolve().parents[2] / "conformance/backends/tinygrad/interop_known_failures.toml"


class TiesKnownWriter(ReferenceBackend):
    """The reference, shipping a writer's manifest that lists INTEROP-TIES (as tinygrad's does)."""

    interop_writer_failures = str(_WRITER_MANIFEST)


class _RecordingPair(Pair):
    """A pair that records what its known failures were asked with."""

    asked: list[tuple[Any, Path | None]]

    def known(self, catalogue: Any, path: Path | None) -> dict[str, KnownFailure]:
        self.asked.append((catalogue, path))
        return {"INTEROP-KEYS": KnownFailure("INTEROP-KEYS", "recorded")}


def _manifest(path: Path, clause: str) -> Path:
    path.write_text(f'[[known_failure]]\nclause = "{clause}"\nreason = "given on the command line"\n', "utf-8")
    return path


def test_load_hands_on_the_pair_its_known_failures_and_its_own_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = _RecordingPair(ReferenceBackend(), ReferenceBackend(), host_device="sim:1")
    pair.asked = []
    targets: list[str] = []
    monkeypatch.setattr("conformance.interop.subject.load_pair", lambda target: targets.append(target) or pair)
    manifest = tmp_path / "known.toml"
    catalogue = load_catalogue(subject="all")  # what the pipeline hands in, not what the subject would load
    request = RunRequest("w -> r", subject=PAIR, device="cpu", known_failures=manifest)
    loaded, known, device = PAIR.load(request, catalogue)
    assert targets == ["w -> r"], f"observed load_pair called with {targets}; expected the request's target as given"
    assert loaded is pair, f"observed {loaded!r}; expected the pair load_pair returned"
    asked = [(len(c), c is catalogue, path) for c, path in pair.asked]
    assert asked == [(len(catalogue), True, manifest)], (
        f"observed the pair's known failures asked with (clauses, the one given, manifest) {asked}; "
        f"expected the catalogue given and {manifest}"
    )
    assert list(known) == ["INTEROP-KEYS"], f"observed known failures {known}; expected what the pair answered"
    assert device == "sim:1", f"observed device {device!r}; expected the pair's host device 'sim:1', not the request's"


def test_a_real_pair_is_loaded_by_name_on_the_host_with_no_known_failures() -> None:
    request = RunRequest(" reference -> reference ", subject=PAIR)
    pair, known, device = PAIR.load(request, PAIR.catalogue())
    sides = (type(pair.writer).__name__, type(pair.reader).__name__, pair.name)
    assert sides == ("ReferenceBackend", "ReferenceBackend", "reference->reference"), (
        f"reference->reference: observed (writer, reader, name) {sides}; expected both references, named A->B"
    )
    assert (known, device) == ({}, "cpu"), f"reference->reference: observed {known}, {device!r}; expected {{}}, 'cpu'"


def test_the_writers_shipped_manifest_counts_unless_one_is_given(tmp_path: Path) -> None:
    target = f"{__name__}:TiesKnownWriter->reference"
    _, shipped, _ = PAIR.load(RunRequest(target, subject=PAIR), PAIR.catalogue())
    assert list(shipped) == ["INTEROP-TIES"], f"{target}: observed known {sorted(shipped)}; expected the writer's"
    given_manifest = _manifest(tmp_path / "known.toml", "INTEROP-KEYS")
    request = RunRequest(target, subject=PAIR, known_failures=given_manifest)
    _, given_known, _ = PAIR.load(request, PAIR.catalogue())
    assert list(given_known) == ["INTEROP-KEYS"], (
        f"{target} with --known-failures: observed known {sorted(given_known)}; expected only the given manifest's"
    )


def test_a_manifest_entry_for_a_framework_clause_is_refused_in_a_pairs_run(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "known.toml", "SEQ-INDEX")
    request = RunRequest("reference->reference", subject=PAIR, known_failures=manifest)
    with pytest.raises(UsageError) as info:
        PAIR.load(request, PAIR.catalogue())
    assert "SEQ-INDEX" in str(info.value) and "names no clause" in str(info.value), (
        f"a framework clause in a pair's manifest: observed {info.value}; expected it refused as no clause"
    )


@pytest.mark.parametrize(
    ("target", "error", "says"),
    [
        ("reference", UsageError, "a pair is written WRITER->READER"),
        ("reference->torch->reference", UsageError, "a pair is written WRITER->READER"),
        ("->reference", UsageError, "a pair is written WRITER->READER"),
        ("reference->nosuchframework", UnknownBackendError, "unknown backend 'nosuchframework'"),
    ],
)
def test_a_target_that_names_no_pair_is_a_usage_error(target: str, error: type[Exception], says: str) -> None:
    with pytest.raises(error) as info:
        PAIR.load(RunRequest(target, subject=PAIR), PAIR.catalogue())
    assert says in str(info.value), f"target {target!r}: observed {info.value}; expected {says!r}"


def _shell_words(command: str) -> list[str]:
    """``command`` split as a POSIX shell reads it: quotes removed, ``>``, ``;``, ``|`` and ``(`` words of their own."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


@settings(max_examples=50, deadline=None)
@example(target="torch->flax", device=None)
@example(target=" torch->flax ", device="cuda:0")
@example(target="a;rm -rf x|y $(z) 'q' \"r\"", device=None)
@given(
    target=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30),
    device=st.sampled_from([None, "cpu", "cuda:0"]),
)
def test_the_rerun_command_gives_a_shell_the_pair_as_one_word_and_no_device(target: str, device: str | None) -> None:
    """``A->B`` unquoted would be ``A-`` with its output redirected to a file ``B``."""
    command = PAIR.command(RunRequest(target, subject=PAIR, device=device))
    words = _shell_words(command)
    expected = ["blockspec", "interop", "--pair", target]
    assert words == expected, (
        f"target {target!r}, device {device!r}: observed {command!r}, read by a shell as {words}; expected {expected}"
    )
