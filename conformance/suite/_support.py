"""What several test modules of the suite need: observing built models through the protocol."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance import arch as A
from conformance._protocol import Backend, weight_layouts
from conformance.kit.checks import Check


def layouts(backend: Backend) -> dict[str, str]:
    """How ``backend`` stores each layer type's weight (its declared ``weight_layouts``, completed)."""
    return weight_layouts(backend)


def chapter_weight(backend: Backend, kind: str, stored: np.ndarray) -> np.ndarray:
    """A ``kind`` layer's weight as read from ``backend`` (its declared layout), in the chapter's layout.

    Architecture values are given in the chapter's layout; this turns what the framework holds
    into them (and, being a transpose or nothing, back).
    """
    return A.reoriented(kind, stored, layouts(backend))


def state_values(backend: Backend, model: Any) -> dict[str, np.ndarray]:
    """The state dict as NumPy arrays, by key."""
    return {key: backend.to_numpy(value) for key, value in backend.state_dict(model)}


def modules_by_node(backend: Backend, model: Any, root: A.Node, check: Check) -> dict[int, Any]:
    """The built module of every architecture node (keyed by ``id(node)``).

    Children are matched by registration *position*, not name, so that a
    naming bug is reported by the naming clauses alone. A module that
    registers another number of children than its node has is a violation
    of the calling test's clause, named with the module's path.
    """
    found: dict[int, Any] = {id(root): model}

    def descend(node: A.Node, module: Any, path: str) -> None:
        expected = A.children(node)
        registered = [child for _, child in backend.named_children(module)]
        where = f"the module at {path or '(the root)'} ({type(module).__name__})"
        check.equal(len(registered), len(expected), f"number of children {where} registers, by the architecture")
        for (name, child), sub in zip(expected, registered, strict=True):
            found.setdefault(id(child), sub)
            descend(child, sub, f"{path}.{name}" if path else str(name))

    descend(root, model, "")
    return found


def non_parameter_state(backend: Backend, model: Any) -> dict[str, Any]:
    """State-dict entries that are none of the parameters, told apart by value, not by name."""
    params = {backend.bits(p) for _, p in backend.named_parameters(model)}
    return {key: value for key, value in backend.state_dict(model) if backend.bits(value) not in params}


def own_parameters(backend: Backend, layer: Any) -> dict[str, Any]:
    """A leaf layer's parameters by leaf name (``weight``, ``bias``)."""
    return dict(backend.named_parameters(layer))


def linear_leaves(root: A.Node) -> list[tuple[str, A.Linear]]:
    """Every distinct Linear node with its first path."""
    seen: set[int] = set()
    leaves = []
    for path, node in A.walk(root):
        if isinstance(node, A.Linear) and id(node) not in seen:
            seen.add(id(node))
            leaves.append((path, node))
    return leaves


def with_values(node: A.Linear, weight: np.ndarray, bias: np.ndarray | None) -> A.Linear:
    return A.Linear(node.in_features, node.out_features, node.bias, A.LinearValues(weight, bias))


def replace(root: A.Node, old: A.Node, new: A.Node) -> A.Node:
    """A copy of ``root`` with every use of ``old`` replaced by ``new`` (ties kept)."""
    if root is old:
        return new
    if isinstance(root, A.Sequential):
        return A.Sequential(tuple(replace(c, old, new) for c in root.children), root.names, root.custom)
    if isinstance(root, A.Block):
        return A.Block(tuple((n, replace(c, old, new)) for n, c in root.children))
    return root
