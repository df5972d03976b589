"""What every adapter needs and no framework gives it in the protocol's shape: written once.

An adapter keeps what its framework does differently (how it builds a layer,
where a module keeps its children and variables, which call loads a state);
this kit holds the rest, so no adapter carries its own copy:

- :func:`walk` and :func:`first_paths`: the module-tree walk. Names are dotted
  registration paths; a layer registered at two places is reached under each
  path (the state dict's alias keys), and :func:`first_paths` keeps each
  tensor once, at its first path, telling tensors apart by identity (what
  ``named_parameters`` lists).
- :func:`refusals`: a framework's own refusal of a state dict, re-raised as
  :class:`~conformance._protocol.LoadRejected` with the framework's message.
  The kit never decides whether a load is refused: that is the framework's.
- :func:`chapter_table`: the one table from :data:`~conformance._protocol.CHAPTER_BLOCKS`
  to a block factory.
- :func:`initializer_table` and :func:`initializer`: the one ``init_`` dispatch,
  its schemes checked against :data:`~conformance._protocol.INITIALIZERS`.
- :func:`maker`: the node dispatch of ``build``, each kind of node built by the
  framework's own call the adapter gives; :func:`container`: a Block or
  Sequential node built as the framework's container, children in order;
  :class:`TreeBuilder`: the tree built from it, shared layers and tied weights
  by the backend's own ``reuse`` and ``tie``.
- :func:`stored_values`: architecture values in the layout the backend declares
  (``weight_layouts``), for the adapter to write into a layer it builds.
- :func:`gradients_of`: the :class:`~conformance._protocol.Gradients` of one backward, from the
  gradients the framework's own autograd call returned (the input's first, then each parameter's).
- :class:`StateDictCheckpoints`: ``module-checkpoint`` the chapter's way, for a
  framework whose checkpoint of a module is its state dict in a tensor file
  (``save(net.state_dict(), path)``, ``net.load_state_dict(load(path))``).

Frameworks with PyTorch's module API (torch, the reference) get all of this
from the framework itself and use :mod:`._torchlike` instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from conformance import arch as A
from conformance._protocol import CHAPTER_BLOCKS, INITIALIZERS, Gradients, LoadRejected, LoadResult

T = TypeVar("T")

#: A module's own tensors: (leaf name, handle) pairs, in registration order.
OwnTensors = Callable[[Any], Iterable[tuple[str, Any]]]
#: A module's children: (registration name, child) pairs, in registration order.
Children = Callable[[Any], Iterable[tuple[str, Any]]]


def joined(prefix: str, name: str) -> str:
    """``prefix.name``, or ``name`` at the root."""
    return f"{prefix}.{name}" if prefix else name


def walk(module: Any, own: OwnTensors, children: Children, prefix: str = "") -> Iterator[tuple[str, Any, str, Any]]:
    """(path, owning module, leaf name, handle) for every tensor under every registration path.

    ``own(module)`` gives a module's own tensors, ``children(module)`` its
    registered children; a child registered twice is walked at each place,
    so a shared tensor appears once per path (the state dict's alias keys).
    """
    for leaf, handle in own(module):
        yield joined(prefix, leaf), module, leaf, handle
    for name, child in children(module):
        yield from walk(child, own, children, joined(prefix, name))


def first_paths(items: Iterable[tuple[str, T]], identity: Callable[[T], object] = lambda h: h) -> list[tuple[str, T]]:
    """Each handle once, at its first path; handles are told apart by ``identity(handle)``'s ``id``.

    ``identity`` maps a handle to the framework object that *is* the tensor
    (a view's variable), so two handles on one tensor count once.
    """
    seen: set[int] = set()
    kept = []
    for path, handle in items:
        key = id(identity(handle))
        if key not in seen:
            seen.add(key)
            kept.append((path, handle))
    return kept


@contextlib.contextmanager
def inside(framework: str, error: type[Exception] = RuntimeError) -> Iterator[None]:
    """An ``AssertionError`` raised inside ``framework``'s code is a crash of the framework (``error``, a
    ``RuntimeError`` by default), not a clause violation: the suite reads AssertionError as a failed check."""
    try:
        yield
    except AssertionError as exc:
        raise error(f"{framework} raised AssertionError: {exc}") from exc


@contextlib.contextmanager
def refusals(*errors: type[BaseException], key: str | None = None) -> Iterator[None]:
    """Re-raise the framework's own refusal of a load (one of ``errors``) as ``LoadRejected``, message kept.

    ``key``: the state-dict key being written when the framework's write refused (for a framework
    that loads one variable at a time); the message then starts with it. The refusal is the framework's.
    """
    try:
        yield
    except errors as exc:
        where = "" if key is None else f"{key}: "
        raise LoadRejected(f"{where}{type(exc).__name__}: {exc}") from exc


def chapter_table(blocks: Any, my_sequential: Callable[[], Any], **framework: Any) -> dict[str, Callable[[], Any]]:
    """A factory for every block of :data:`CHAPTER_BLOCKS`, from the adapter's ``blocks`` module.

    ``blocks`` defines ``MLP``, ``FixedHiddenMLP``, ``block1``, ``block2``,
    ``rgnet``, ``tied_net``, ``CenteredLayer`` and ``MyLinear`` as the chapter
    writes them; ``my_sequential`` builds ``MySequential(Linear(20, 256), ReLU(),
    Linear(256, 10))`` with the framework's own layers; ``framework`` are
    keyword arguments the framework's blocks take (Flax: ``rngs``).
    CenteredLayer has no parameters and takes none.

    Each factory looks its block up in ``blocks`` when it is called, not when the table is made: the
    kill matrix's trace (``conformance/_access.py``) then files the lookup under the clauses that build
    that block alone.
    """
    table: dict[str, Callable[[], Any]] = {
        name: _looked_up_on_call(blocks, name, **framework)
        for name in ("MLP", "FixedHiddenMLP", "block1", "block2", "rgnet", "tied_net")
    }
    table["CenteredLayer"] = _looked_up_on_call(blocks, "CenteredLayer")
    table["MyLinear"] = _looked_up_on_call(blocks, "MyLinear", 5, 3, **framework)
    table["MySequential"] = my_sequential
    assert set(table) == set(CHAPTER_BLOCKS), f"chapter table {sorted(table)} != {sorted(CHAPTER_BLOCKS)}"
    return table


def _looked_up_on_call(blocks: Any, name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """``blocks.NAME(*args, **kwargs)``, ``NAME`` looked up at each call."""
    return lambda: getattr(blocks, name)(*args, **kwargs)


def chapter_block(table: Mapping[str, Callable[[], T]], name: str) -> T:
    """``table[name]()``, or a ``ValueError`` naming the chapter's blocks."""
    if name not in table:
        raise ValueError(f"Expected a block of {list(CHAPTER_BLOCKS)} but got name={name!r}")
    return table[name]()


def initializer_table(table: Mapping[str, Callable[..., T]]) -> Mapping[str, Callable[..., T]]:
    """An adapter's initializers by scheme, checked to cover :data:`INITIALIZERS` exactly.

    Each entry takes the scheme's keyword arguments (``normal``: ``mean``,
    ``std``) and returns the framework's initializer, or writes it.
    """
    if set(table) != set(INITIALIZERS):
        raise ValueError(f"Expected initializers for {sorted(INITIALIZERS)} but got {sorted(table)}")
    return table


def initializer(table: Mapping[str, Callable[..., T]], scheme: str, kwargs: Mapping[str, float]) -> T:
    """``table[scheme](**kwargs)``, after checking the scheme and its keyword arguments."""
    if scheme not in INITIALIZERS:
        raise ValueError(f"Expected an initializer of {sorted(INITIALIZERS)} but got scheme={scheme!r}")
    if set(kwargs) != set(INITIALIZERS[scheme]):
        raise ValueError(f"Expected arguments {list(INITIALIZERS[scheme])} for {scheme} but got {sorted(kwargs)}")
    return table[scheme](**kwargs)


def stored_values(
    node: A.Linear | A.MyLinear | A.LazyLinear, layouts: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``node``'s explicit (weight, bias), the weight in the layout ``layouts`` gives its type; None without values."""
    values = getattr(node, "values", None)
    if values is None:
        return None
    return A.reoriented(type(node).__name__, values.weight, layouts), values.bias


def container(
    node: A.Node,
    child: Callable[[A.Node], Any],
    *,
    block: Callable[[list[tuple[str, Any]]], Any],
    sequential: Callable[..., Any],
    my_sequential: Callable[..., Any],
    named: Callable[[], Any],
) -> Any | None:
    """``node`` built as a container of the framework, its children built by ``child``; None for a leaf.

    ``block(children)`` is a user-written block of (attribute, child) pairs; ``sequential(*children)``
    the framework's own container; ``my_sequential(*children)`` the chapter's MySequential; ``named()``
    an empty container that takes ``add_module(name, child)`` (the chapter's ``block2``).
    """
    if isinstance(node, A.Block):
        return block([(name, child(c)) for name, c in node.children])
    if not isinstance(node, A.Sequential):
        return None
    kids = [child(c) for c in node.children]
    if node.custom:
        return my_sequential(*kids)
    if node.names is None:
        return sequential(*kids)
    net = named()
    for name, kid in zip(node.names, kids, strict=True):
        net.add_module(name, kid)
    return net


def maker(
    framework: str,
    *,
    linear: Callable[[A.Linear], Any],
    my_linear: Callable[[A.MyLinear], Any],
    relu: Callable[[], Any],
    centered: Callable[[], Any],
    lazy_linear: Callable[[A.LazyLinear], Any] | None = None,
    block: Callable[[list[tuple[str, Any]]], Any],
    sequential: Callable[..., Any],
    my_sequential: Callable[..., Any],
    named: Callable[[], Any],
) -> Callable[[A.Node, Callable[[A.Node], Any]], Any]:
    """The ``make(node, child)`` that :func:`conformance.arch.build_tree` calls: each kind of node, one call.

    Each argument builds one kind of node in the framework's own way (a layer from its node; a container
    as :func:`container` says); ``lazy_linear`` None: the framework has no lazy layer, and a LazyLinear
    node is refused like any node it cannot build.
    """

    def make(node: A.Node, child: Callable[[A.Node], Any]) -> Any:
        if isinstance(node, A.Linear):
            return linear(node)
        if isinstance(node, A.MyLinear):
            return my_linear(node)
        if isinstance(node, A.LazyLinear) and lazy_linear is not None:
            return lazy_linear(node)
        if isinstance(node, A.ReLU):
            return relu()
        if isinstance(node, A.Centered):
            return centered()
        built = container(node, child, block=block, sequential=sequential, my_sequential=my_sequential, named=named)
        if built is not None:
            return built
        lazy = "" if lazy_linear is not None else " (no lazy layers)"
        raise TypeError(f"Expected an architecture node {framework} can build{lazy} but got {node!r}")

    return make


def gradients_of(
    names: Iterable[str],
    grads: Sequence[Any],
    input_shape: tuple[int, ...],
    to_numpy: Callable[[Any], np.ndarray],
    device_of: Callable[[Any], str],
) -> Gradients:
    """``grads`` (the input's gradient, then one per name; None where the loss does not reach it) as Gradients.

    A parameter the loss does not reach has no entry; an input it does not reach has zeros.
    """
    params: dict[str, np.ndarray] = {}
    devices: dict[str, str] = {}
    for name, grad in zip(names, grads[1:], strict=True):
        if grad is not None:
            params[name] = to_numpy(grad)
            devices[name] = device_of(grad)
    grad_x = grads[0]
    input_grad = np.zeros(input_shape, dtype=np.float64) if grad_x is None else to_numpy(grad_x)
    return Gradients(input_grad, params, devices)


class TreeBuilder:
    """``build_tree``: :func:`conformance.arch.build_tree` with this backend's ``tie`` and ``reuse``.

    ``tie(owner, user)`` ties a parameter (default ``user.weight = owner.weight``); ``reuse(module, use,
    rebuild)`` is the module a node built before gives at its ``use``-th use (default the module itself: a
    shared layer is one object). Both are attributes, so that a variant (a mutant in the tests) can swap
    one, and each is looked up only when a tree has a tie or a shared layer: the kill matrix's trace
    (conformance/_access.py) then files it under the clauses that build those alone.
    """

    tie: Callable[[Any, Any], None] = staticmethod(A.share_weight)
    reuse: Callable[[Any, int, Callable[[], Any]], Any] = staticmethod(A.same_module)

    def build_tree(self, node: A.Node, make: Callable[[A.Node, Callable[[A.Node], Any]], Any]) -> Any:
        return A.build_tree(
            node,
            make,
            tie=lambda owner, user: self.tie(owner, user),
            reuse=lambda module, use, rebuild: self.reuse(module, use, rebuild),
        )


class _StateFiles(Protocol):
    def save(self, obj: Any, path: Path) -> None: ...
    def load(self, path: Path, map_location: str | None = None) -> Any: ...
    def state_dict(self, module: Any) -> list[tuple[str, Any]]: ...
    def load_state_dict(self, module: Any, state: Mapping[str, Any], *, strict: bool) -> LoadResult: ...


class StateDictCheckpoints:
    """``module-checkpoint`` as the chapter writes it, through the adapter's own file and load members.

    ``save_checkpoint`` is ``save(net.state_dict(), path)`` and ``load_checkpoint`` is
    ``net.load_state_dict(load(path))`` (strict, the framework's default): the path PyTorch, the
    reference, Paddle (``paddle.save``/``set_state_dict``), tinygrad (``safe_save``/``load_state_dict``) and
    this Flax adapter's msgpack files take. Nothing is added: what the framework's ``load`` or its load
    of a state dict refuses is refused.
    """

    def save_checkpoint(self: _StateFiles, module: Any, path: Path) -> None:
        self.save(dict(self.state_dict(module)), path)

    def load_checkpoint(self: _StateFiles, module: Any, path: Path) -> None:
        self.load_state_dict(module, self.load(path), strict=True)
