"""Container observers: the framework's own indexing where it has one, else read from ``named_children``."""

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


class IndexedByFramework:
    """``index``, ``length`` and ``iterate`` of a container, as the framework's own ``net[i]``, ``len(net)``
    and ``list(net)`` (torch, the reference, Paddle): the adapter adds nothing to what the container does."""

    def index(self, module: Any, i: int) -> Any:
        return module[i]

    def length(self, module: Any) -> int:
        return len(module)

    def iterate(self, module: Any) -> list[Any]:
        return list(module)
