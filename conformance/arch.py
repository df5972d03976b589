"""Architectures as data: what the suite asks a backend to build.

A tree of these nodes describes a network the way the chapter writes it. The
same node *object* appearing at two places means one shared layer (the
chapter's tied ``shared`` layer), exactly as reusing a module object does in
PyTorch::

    from conformance import arch as A

    shared = A.Linear(8, 8)
    tied = A.Sequential((A.Linear(4, 8), A.ReLU(), shared, A.ReLU(), shared, A.ReLU(), A.Linear(8, 1)))

A tie can also be made at the parameter level, across layer types: a layer
whose ``weight_of`` names another layer uses that layer's weight tensor as its
own, the way ``b.weight = a.weight`` does in PyTorch. Both layers *store* the
same array ``W``; a Linear computes ``X @ W.T``, a MyLinear ``relu(X @ W)``::

    owner = A.Linear(8, 8)
    user = A.MyLinear(8, 8, weight_of=owner)
    tied = A.Sequential((owner, A.ReLU(), user, owner))  # one weight tensor, three uses

A backend turns a tree into its own modules with :func:`build_tree`, which
handles both kinds of sharing; the suite's oracle computes the same tree in
float64 NumPy. Nodes compare by identity, never by value, so two
equal-looking layers stay two layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import numpy as np

#: How a layer type stores its weight: (out, in) or (in, out). A backend declares one per layer type
#: (``Backend.weight_layouts``); the oracle, the expected shapes and the ties compute in it.
OUT_IN, IN_OUT = "out_in", "in_out"
#: The layer types whose weight layout a backend declares.
LAYER_KINDS = ("Linear", "LazyLinear", "MyLinear")
#: The chapter's layouts (PyTorch's): a Linear stores (out, in), MyLinear (in_units, units). Architecture
#: values (:class:`LinearValues`) are always given in these; a backend declaring another layout stores
#: their transpose.
CHAPTER_LAYOUTS: Mapping[str, str] = {"Linear": OUT_IN, "LazyLinear": OUT_IN, "MyLinear": IN_OUT}


@dataclass(frozen=True, eq=False)
class LinearValues:
    """Values to load into a linear layer, in :data:`CHAPTER_LAYOUTS`: a Linear's ``weight`` is (out, in),
    a MyLinear's (in_units, units); ``bias`` (out,) or None."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Linear:
    """A fully connected layer computing ``X @ W.T + b``.

    ``values`` None keeps the framework's default initialization.
    ``weight_of`` names the layer whose weight tensor this one uses as its own
    (a parameter-level tie); its stored shape must equal this layer's (out, in).
    """

    in_features: int
    out_features: int
    bias: bool = True
    values: LinearValues | None = field(default=None, repr=False)
    weight_of: Linear | MyLinear | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_tie(self, (self.out_features, self.in_features))

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}{'' if self.bias else ', bias=False'})"


@dataclass(frozen=True, eq=False)
class LazyLinear:
    """A linear layer whose input width is inferred on the first call (4.3)."""

    out_features: int
    bias: bool = True


@dataclass(frozen=True, eq=False)
class ReLU:
    """The elementwise ``max(x, 0)`` layer; it has no parameters."""


@dataclass(frozen=True, eq=False)
class Centered:
    """The chapter's CenteredLayer: ``X - X.mean()``, no parameters (4.3.1)."""


@dataclass(frozen=True, eq=False)
class MyLinear:
    """The chapter's MyLinear: ``relu(X @ weight + bias)``, weight (in, units) (4.3.2)."""

    in_units: int
    units: int
    values: LinearValues | None = field(default=None, repr=False)  # weight given as (in_units, units)
    weight_of: Linear | MyLinear | None = field(default=None, repr=False)  # as Linear.weight_of

    def __post_init__(self) -> None:
        _check_tie(self, (self.in_units, self.units))

    def __repr__(self) -> str:
        return f"MyLinear({self.in_units}, {self.units})"


def check_layouts(layouts: Mapping[str, str]) -> dict[str, str]:
    """``layouts`` completed with :data:`CHAPTER_LAYOUTS`; a ``ValueError`` for an unknown kind or layout."""
    unknown = sorted(set(layouts) - set(LAYER_KINDS))
    if unknown:
        raise ValueError(f"Expected weight layouts for layer kinds of {list(LAYER_KINDS)} but got {unknown}")
    wrong = {kind: value for kind, value in layouts.items() if value not in (OUT_IN, IN_OUT)}
    if wrong:
        raise ValueError(f"Expected each weight layout to be {OUT_IN!r} or {IN_OUT!r} but got {wrong}")
    return {**CHAPTER_LAYOUTS, **layouts}


def layout_of(node: Linear | LazyLinear | MyLinear, layouts: Mapping[str, str] = CHAPTER_LAYOUTS) -> str:
    """The layout ``node``'s layer type stores its weight in, under ``layouts``."""
    return layouts.get(type(node).__name__, CHAPTER_LAYOUTS[type(node).__name__])


def _in_out(node: Linear | MyLinear) -> tuple[int, int]:
    return (node.in_features, node.out_features) if isinstance(node, Linear) else (node.in_units, node.units)


def stored_weight_shape(node: Linear | MyLinear, layouts: Mapping[str, str] = CHAPTER_LAYOUTS) -> tuple[int, int]:
    """The shape a layer stores its weight in: (out, in) or (in, out), as its type's layout says."""
    fan_in, fan_out = _in_out(node)
    return (fan_out, fan_in) if layout_of(node, layouts) == OUT_IN else (fan_in, fan_out)


def reoriented(kind: str, array: np.ndarray, layouts: Mapping[str, str]) -> np.ndarray:
    """A weight of layer kind ``kind`` between the chapter's layout and ``layouts``' (a transpose or nothing).

    The same call goes either way: from the chapter's layout to the declared one, and back.
    """
    same = layouts.get(kind, CHAPTER_LAYOUTS[kind]) == CHAPTER_LAYOUTS[kind]
    return array if same else np.ascontiguousarray(array.T)


def _reoriented(node: Linear | MyLinear, array: np.ndarray, layouts: Mapping[str, str]) -> np.ndarray:
    return reoriented(type(node).__name__, array, layouts)


def stored_weight(node: Linear | MyLinear, layouts: Mapping[str, str] = CHAPTER_LAYOUTS) -> np.ndarray:
    """The array ``node`` holds as its weight under ``layouts``: its values' weight in its own layout.

    A layer tied by ``weight_of`` holds its owner's array, in the owner's layout.
    """
    owner = node if node.weight_of is None else node.weight_of
    if owner.values is None:
        raise ValueError(f"Expected explicit values on the layer owning the weight but got {owner!r}")
    return _reoriented(owner, owner.values.weight, layouts)


def weight_in_use(node: Linear | MyLinear, layouts: Mapping[str, str] = CHAPTER_LAYOUTS) -> np.ndarray:
    """The weight ``node`` computes with, in the chapter's layout of its type (``X @ W.T``, ``relu(X @ W)``).

    Untied, that is its own values; tied, it is the owner's stored array read in ``node``'s layout.
    """
    return _reoriented(node, stored_weight(node, layouts), layouts)


def stored_gradient(
    node: Linear | MyLinear, grad: np.ndarray, layouts: Mapping[str, str] = CHAPTER_LAYOUTS
) -> np.ndarray:
    """A gradient of ``node``'s weight, given in the chapter's layout of its type, in the layout it is stored in."""
    return _reoriented(node, grad, layouts)


def _check_tie(node: Linear | MyLinear, shape: tuple[int, int]) -> None:
    owner = node.weight_of
    if owner is None:
        return
    if not isinstance(owner, (Linear, MyLinear)):
        raise TypeError(f"Expected weight_of to be a Linear or MyLinear but got weight_of={owner!r}")
    if owner.weight_of is not None:
        raise ValueError(f"Expected weight_of to name the weight's owner, not another user, but got {owner!r}")
    if stored_weight_shape(owner) != shape:  # square ties fit every layout
        raise ValueError(
            f"Expected weight_of with a stored weight of shape {shape} but got {owner!r} storing "
            f"{stored_weight_shape(owner)}"
        )


@dataclass(frozen=True, eq=False)
class Sequential:
    """Children applied in order.

    ``names`` None registers children under ``"0"``, ``"1"``, ...; otherwise
    each child is added with ``add_module(name, child)`` (the chapter's
    ``block2``). ``custom`` True builds the chapter's MySequential instead of
    the framework's own container.
    """

    children: tuple[Node, ...]
    names: tuple[str, ...] | None = None
    custom: bool = False

    def keys(self) -> tuple[str, ...]:
        return self.names if self.names is not None else tuple(str(i) for i in range(len(self.children)))


@dataclass(frozen=True, eq=False)
class Block:
    """A user-written block: each child assigned as an attribute, applied in order (4.1.1)."""

    children: tuple[tuple[str, Node], ...]


Node: TypeAlias = Linear | LazyLinear | ReLU | Centered | MyLinear | Sequential | Block

M = TypeVar("M")


def share_weight(owner: Any, user: Any) -> None:
    """The default tie: ``user.weight = owner.weight`` (PyTorch, the reference, tinygrad).

    The user then computes with the owner's array in the user's own layout (a Linear storing (out, in)
    computes ``X @ W.T``, one storing (in, out) ``X @ W``): see :func:`weight_in_use`.
    """
    user.weight = owner.weight


def same_module(module: M, use: int, rebuild: Callable[[], M]) -> M:
    """The default reuse: a node met again is the module built at its first use (a shared layer, one object)."""
    return module


def build_tree(
    node: Node,
    make: Callable[[Node, Callable[[Node], M]], M],
    tie: Callable[[M, M], None] = share_weight,
    reuse: Callable[[M, int, Callable[[], M]], M] = same_module,
) -> M:
    """Build ``node`` with ``make``, constructing each shared node only once, then tie weights.

    ``make(node, build_child)`` builds one node; it calls ``build_child`` for
    each child. A child node seen before gives ``reuse(module, use, rebuild)``:
    ``module`` is what its first use built, ``use`` counts its uses (2 at the
    second), ``rebuild()`` builds it anew; the default, :func:`same_module`,
    returns ``module``, the one object at every use. Once the whole tree is
    built, ``tie(owner, user)`` runs for every layer whose ``weight_of`` names
    another (see :func:`weight_ties`), with the two modules its nodes built
    first: it makes ``user`` hold ``owner``'s weight tensor itself. This is all
    a backend needs to honour tying; a framework whose layers name their weight
    otherwise passes its own ``tie``.
    """
    built: dict[int, M] = {}
    uses: dict[int, int] = {}

    def build_child(child: Node) -> M:
        key = id(child)
        if key not in built:
            built[key] = make(child, build_child)
            uses[key] = 1
            return built[key]
        uses[key] += 1
        return reuse(built[key], uses[key], lambda: make(child, build_child))

    module = build_child(node)
    for owner, users in weight_ties(node):
        if id(owner) not in built:
            raise ValueError(f"Expected the weight's owner {owner!r} in the tree but it is not: {describe(node)}")
        for user in users:
            tie(built[id(owner)], built[id(user)])
    return module


def weight_ties(root: Node) -> list[tuple[Linear | MyLinear, list[Linear | MyLinear]]]:
    """Every parameter-level tie in ``root``: (owner, users naming it in ``weight_of``), in walk order."""
    groups: dict[int, tuple[Linear | MyLinear, list[Linear | MyLinear]]] = {}
    seen: set[int] = set()
    for _, node in walk(root):
        if id(node) in seen or not isinstance(node, (Linear, MyLinear)) or node.weight_of is None:
            continue
        seen.add(id(node))
        groups.setdefault(id(node.weight_of), (node.weight_of, []))[1].append(node)
    return list(groups.values())


def parameter_key(node: Node, leaf: str) -> tuple[int, str]:
    """Which tensor ``node``'s parameter ``leaf`` is: (id of the layer owning it, leaf name)."""
    if leaf == "weight" and isinstance(node, (Linear, MyLinear)) and node.weight_of is not None:
        return id(node.weight_of), leaf
    return id(node), leaf


def weight_uses(root: Node) -> dict[int, list[str]]:
    """Paths of every layer whose weight tensor is used at more than one position, by the tensor's owner.

    A layer reused at two positions counts twice, as does a layer holding
    another's weight; the paths are those of the layers, in walk order.
    """
    uses: dict[int, list[str]] = {}
    for path, node in walk(root):
        if isinstance(node, (Linear, MyLinear)):
            uses.setdefault(parameter_key(node, "weight")[0], []).append(path)
    return {key: paths for key, paths in uses.items() if len(paths) > 1}


def children(node: Node) -> tuple[tuple[str, Node], ...]:
    """The registered children of ``node`` as (registration name, child)."""
    if isinstance(node, Sequential):
        return tuple(zip(node.keys(), node.children, strict=True))
    if isinstance(node, Block):
        return node.children
    return ()


def leaf_parameters(
    node: Node, layouts: Mapping[str, str] = CHAPTER_LAYOUTS
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The parameters a leaf registers itself, as (leaf name, shape), the weight in its type's layout."""
    if isinstance(node, Linear):
        weight = ("weight", stored_weight_shape(node, layouts))
        return (weight, ("bias", (node.out_features,))) if node.bias else (weight,)
    if isinstance(node, MyLinear):
        return (("weight", stored_weight_shape(node, layouts)), ("bias", (node.units,)))
    return ()


def walk(node: Node, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Every (dotted path, node) pair in registration order, shared nodes at each path."""
    yield prefix, node
    for name, child in children(node):
        yield from walk(child, f"{prefix}.{name}" if prefix else name)


def state_dict_keys(node: Node) -> list[str]:
    """Expected state-dict keys: every parameter under every registration path."""
    keys = []
    for path, sub in walk(node):
        for leaf, _ in leaf_parameters(sub):
            keys.append(f"{path}.{leaf}" if path else leaf)
    return keys


def parameter_names(node: Node) -> list[str]:
    """Expected ``named_parameters`` names: each parameter (tensor) once, at its first path."""
    names, seen, tensors = [], set(), set()
    for path, sub in walk(node):
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        for leaf, _ in leaf_parameters(sub):
            key = parameter_key(sub, leaf)
            if key in tensors:
                continue
            tensors.add(key)
            names.append(f"{path}.{leaf}" if path else leaf)
    return names


def parameter_shapes(node: Node, layouts: Mapping[str, str] = CHAPTER_LAYOUTS) -> dict[str, tuple[int, ...]]:
    """Expected shape of every state-dict key, each weight in its layer type's layout."""
    shapes = {}
    for path, sub in walk(node):
        for leaf, shape in leaf_parameters(sub, layouts):
            shapes[f"{path}.{leaf}" if path else leaf] = shape
    return shapes


def output_width(node: Node, in_width: int) -> int:
    """The output width of ``node`` for inputs of width ``in_width``."""
    if isinstance(node, Linear):
        return node.out_features
    if isinstance(node, LazyLinear):
        return node.out_features
    if isinstance(node, MyLinear):
        return node.units
    width = in_width
    for _, child in children(node):
        width = output_width(child, width)
    return width


def modules_post_order(node: Node) -> list[Node]:
    """Nodes in the order ``apply`` must visit them: children first, each node once per parent."""
    order: list[Node] = []
    seen_under_parent: set[int] = set()
    for _, child in children(node):
        if id(child) in seen_under_parent:
            continue
        seen_under_parent.add(id(child))
        order.extend(modules_post_order(child))
    order.append(node)
    return order


def describe(root: Node) -> str:
    """A compact one-line rendering; a shared node prints as ``@k`` after its first use.

    Layers sharing one weight tensor (``weight_of``) each print ``weight=wk``.
    """
    labels: dict[int, str] = {}
    counts: dict[int, int] = {}
    for _, node in walk(root):
        counts[id(node)] = counts.get(id(node), 0) + 1
    tensors = {id(owner): f"w{k}" for k, (owner, _) in enumerate(weight_ties(root), start=1)}

    def render(node: Node) -> str:
        key = id(node)
        if key in labels:
            return labels[key]
        label = ""
        if counts[key] > 1:
            labels[key] = f"@{len(labels) + 1}"
            label = labels[key] + "="
        if isinstance(node, Sequential):
            kind = "MySequential" if node.custom else "Sequential"
            if node.names is None:
                inner = ", ".join(render(c) for c in node.children)
            else:
                inner = ", ".join(f"{n!r}: {render(c)}" for n, c in zip(node.names, node.children, strict=True))
            return f"{label}{kind}({inner})"
        if isinstance(node, Block):
            return f"{label}Block(" + ", ".join(f"{n}={render(c)}" for n, c in node.children) + ")"
        if isinstance(node, (Linear, MyLinear)) and parameter_key(node, "weight")[0] in tensors:
            return f"{label}{node!r}"[:-1] + f", weight={tensors[parameter_key(node, 'weight')[0]]})"
        return f"{label}{node!r}"

    return render(root)
