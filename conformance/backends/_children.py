"""Container observers derived from ``named_children``, for adapters whose framework has no indexing of its own."""

from __future__ import annotations

from typing import Any


class ChildrenByPosition:
    """``index``, ``length`` and ``iterate`` of a container, read from the adapter's ``named_children``.

    For frameworks whose Sequential is a list of layers rather than an
    indexable module (Flax, Keras, tinygrad); an adapter whose framework
    indexes containers itself (torch) uses the framework's own operations.
    """

    def named_children(self, module: Any) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def index(self, module: Any, i: int) -> Any:
        return self.named_children(module)[i][1]

    def length(self, module: Any) -> int:
        return len(self.named_children(module))

    def iterate(self, module: Any) -> list[Any]:
        return [child for _, child in self.named_children(module)]
