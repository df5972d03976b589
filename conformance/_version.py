"""blockspec's version, read from one place: the package metadata, else the checkout's ``pyproject.toml``."""

from __future__ import annotations

import functools
import importlib.metadata
import re
from pathlib import Path

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def tool_version() -> str:
    """The version of blockspec that is running, installed or from an uninstalled checkout (``PYTHONPATH=.``)."""
    if _PYPROJECT.is_file():  # a checkout: its own pyproject wins over whatever copy is installed elsewhere
        match = re.search(r'(?m)^version\s*=\s*"([^"]+)"', _PYPROJECT.read_text(encoding="utf-8"))
        if match:
            return match.group(1)
    try:
        return importlib.metadata.version("blockspec")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
