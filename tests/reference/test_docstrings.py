"""The usage examples in the reference framework's docstrings run and are
right (so the documentation cannot drift from the code)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import reference

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(reference.__path__, prefix="reference."))


@pytest.mark.parametrize("name", ["reference", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
