"""The subject of ``blockspec interop``: an ordered pair of frameworks (:class:`conformance._interop.Pair`)."""

from __future__ import annotations

import shlex
from typing import Any

from conformance._interop import load_pair
from conformance._manifest import KnownFailure
from conformance.run.request import RunRequest
from conformance.run.subjects import Subject
from spec import Catalogue


class InteropPair(Subject):
    """``A->B``: framework A writes a safetensors file, framework B reads it (the INTEROP-* clauses)."""

    kind = "interop"
    suite = "conformance.interop"
    option = "--blockspec-pair"

    def load(self, request: RunRequest, catalogue: Catalogue) -> tuple[Any, dict[str, KnownFailure], str]:
        pair = load_pair(request.target)  # a Backend-like subject: name, capabilities, version()
        return pair, pair.known(catalogue, request.known_failures), pair.host_device

    def command(self, request: RunRequest) -> str:
        return f"blockspec interop --pair {shlex.quote(request.target)}"  # a shell reads an unquoted > as a redirect


#: The subject of every pair's run.
PAIR = InteropPair()
