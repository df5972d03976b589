"""conformance.run.cache: a run's compile cache is its own and removed, unless the user names one to keep."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conformance.run.cache import CACHE_ENV, compile_cache
from tests.helpers import ADAPTERS_DIR, run_cli

COMPILING = "compiling_adapter:CompilingReference"


def test_a_run_has_its_own_compile_cache_and_removes_it(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = run_cli(
        ["run", "--backend", COMPILING, "--clause", "BLOCK-FORWARD-SHAPE", "--profile", "fast", "--json", str(out)],
        cwd=tmp_path,
        extra_path=[ADAPTERS_DIR],
    )
    assert done.returncode == 0, f"observed exit {done.returncode}: {done.stdout[-600:]}{done.stderr[-600:]}"
    seen = json.loads(out.read_text(encoding="utf-8"))["environment"]["compile_cache_seen"]
    assert "blockspec-compile-cache-" in seen, f"observed the adapter given {seen!r}; expected a fresh directory"
    assert not Path(seen).exists(), f"observed the run's compile cache {seen} left behind; expected it removed"


def test_a_named_compile_cache_is_kept_for_the_next_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for _ in range(2):
        args = ["run", "--backend", COMPILING, "--clause", "BLOCK-FORWARD-SHAPE", "--profile", "fast"]
        done = run_cli([*args, "--compile-cache", str(cache)], cwd=tmp_path, extra_path=[ADAPTERS_DIR])
        assert done.returncode == 0, f"observed exit {done.returncode}: {done.stdout[-600:]}{done.stderr[-600:]}"
    marks = sorted(p.name for p in cache.iterdir())
    assert len(marks) >= 2, f"observed {marks} in --compile-cache; expected what both runs' backends wrote"


@pytest.mark.parametrize(
    ("where", "reason"), [("file", "is not a directory"), ("file/sub", "cannot make the directory")]
)
def test_a_compile_cache_that_cannot_be_a_directory_is_refused(tmp_path: Path, where: str, reason: str) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    done = run_cli(["run", "--compile-cache", str(tmp_path / where), "--clause", "BLOCK-FORWARD-SHAPE"], cwd=tmp_path)
    assert done.returncode == 2, f"observed exit {done.returncode}; expected 2 (usage)"
    assert reason in done.stderr, f"observed stderr {done.stderr[-400:]!r}; expected {reason!r}"
    assert "Traceback" not in done.stderr, f"observed a traceback: {done.stderr[-400:]!r}"


def test_the_cache_context_restores_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    with compile_cache() as fresh:
        assert os.environ[CACHE_ENV] == str(fresh) and fresh.is_dir(), "observed no fresh cache directory named"
    assert CACHE_ENV not in os.environ and not fresh.exists(), "observed the cache directory or variable left behind"
    with compile_cache(tmp_path / "kept") as kept:
        pass
    assert kept.is_dir(), f"observed the user's cache {kept} removed; expected it kept"
