"""``Module``: the block abstraction — registration, naming, state dicts,
traversal, device moves.

A module registers three kinds of members by *attribute assignment*:
:class:`Parameter` (learned), buffers (tensors registered with
:meth:`Module.register_buffer`: state that is not learned but must follow the
module to a device and, if persistent, into the state dict) and submodules.
Every other attribute, including a plain tensor, is an ordinary Python
attribute that ``to()`` and ``state_dict()`` ignore — exactly as in PyTorch.

Names are the registration paths joined with dots (``"0.block 1.0.bias"``);
a registration name may be any non-empty string without a dot.

>>> import reference
>>> from reference import nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
>>> [name for name, _ in net.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .. import _dtypes
from .._autograd import no_grad
from .._device import Device, placement
from .._ops import to_copy
from .._storage import Version
from .._tensor import Tensor, _parse_to, raw
from ..errors import DTypeError, StateDictError
from ._parameter import Parameter, UninitializedParameter, is_lazy

__all__ = ["IncompatibleKeys", "Module"]

M = TypeVar("M", bound="Module")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')
    return name


def _indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0], *[" " * spaces + line for line in lines[1:]]])


class Module:
    """Base class of every block. Subclasses call ``super().__init__()``
    first, assign layers and parameters as attributes, and define
    ``forward``; calling the module calls ``forward``.

    >>> import reference
    >>> class MLP(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = reference.nn.Linear(20, 256)
    ...     def forward(self, X):
    ...         return self.hidden(X).relu()
    >>> MLP()(reference.rand(2, 20)).shape
    (2, 256)
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" method')

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        # Typed as Tensor: the chapter's blocks map tensors to a tensor.
        result: Tensor = self.forward(*args, **kwargs)
        return result

    # --- registration ---------------------------------------------------------

    def _require_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    def _check_new(self, kind: str, name: object, table: str) -> str:
        self._require_init(kind)
        checked = _check_name(kind, name)
        if hasattr(self, checked) and checked not in self.__dict__[table]:
            raise KeyError(f"attribute {checked!r} already exists")
        return checked

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or a None placeholder) under ``name``."""
        name = self._check_new("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} object to parameter {name!r} (Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"cannot assign non-leaf tensor to parameter {name!r}; wrap a detached tensor in Parameter()"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is state but not a parameter: ``to()`` moves
        it, and ``state_dict()`` includes it when ``persistent``."""
        name = self._check_new("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign {type(tensor).__name__} object to buffer {name!r} (Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a submodule under any non-empty name without a dot
        (``"block 0"`` is fine; it is reachable with ``getattr``)."""
        name = self._check_new("module", name, "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._require_init("parameters")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} (Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._require_init("child module")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for table in ("_parameters", "_buffers", "_modules"):
            if table != keep:
                d[table].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered members live in
        # the three tables, not in __dict__.
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            members = d.get(table)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if name in d.get(table, ()):
                del d[table][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        for table in ("_parameters", "_buffers", "_modules"):
            names.update(self.__dict__.get(table, {}))
        return sorted(names)

    # --- traversal ------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules in registration order; a module registered twice
        under this parent appears once, under its first name."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, pre-order; each module
        once (first path) unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_members(
        self, table: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else iter([(prefix, self)])
        )
        for module_prefix, module in modules:
            for name, value in module.__dict__[table].items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs; a tied parameter appears once,
        under its first name, unless ``remove_duplicate=False``."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``""`` is self)."""
        module: Module = self
        if target == "":
            return module
        for part in target.split("."):
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        param = self.get_submodule(path)._parameters.get(name)
        if param is None:
            raise AttributeError(f"no parameter {target!r}")
        return param

    def apply(self: M, fn: Callable[[Module], object]) -> M:
        """Call ``fn`` on every submodule, children before their parent
        (post-order), siblings in registration order; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- state ----------------------------------------------------------------

    def _state_entries(self, prefix: str = "") -> Iterator[tuple[str, Module, str, Tensor]]:
        """Every (key, owner, local name, tensor) of the state dict, with
        all aliases of shared members, in PyTorch's order."""
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, self, name, param
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                yield prefix + name, self, name, buf
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_entries(prefix + name + ".")

    def state_dict(
        self, destination: dict[str, Tensor] | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Tensor]:
        """An ordered dict of every parameter and persistent buffer, one key
        per registration path (so a tied parameter has several keys). Values
        are detached tensors *sharing storage* with the module's members
        (``keep_vars=True`` gives the members themselves)."""
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for key, _, _, value in self._state_entries(prefix):
            out[key] = value if keep_vars or is_lazy(value) else value.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the existing parameters and
        buffers (identity, device and dtype kept; values are cast).

        Shape mismatches always raise :class:`StateDictError`; missing and
        unexpected keys raise it when ``strict``. Nothing is changed if it
        raises. An un-run lazy layer takes its shapes from the checkpoint.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected a mapping of names to tensors but got {type(state_dict).__name__}")
        entries = list(self._state_entries())
        expected = {key for key, *_ in entries}
        missing = [key for key, *_ in entries if key not in state_dict]
        unexpected = [key for key in state_dict if key not in expected]
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        lazy_shapes: dict[int, tuple[int, ...]] = {}
        for key, owner, name, target in entries:
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor) or is_lazy(value):
                raise TypeError(f"state_dict[{key!r}] must be a materialized Tensor, got {type(value).__name__}")
            if is_lazy(target):
                # The first alias of a tied lazy parameter fixes its shape.
                pattern = lazy_shapes.setdefault(id(target), owner._lazy_expected_shape(name, value.shape))
                if not _fits(value.shape, pattern):
                    mismatched.append((key, value.shape, pattern))
                else:
                    lazy_shapes[id(target)] = value.shape
            elif value.shape != target.shape:
                mismatched.append((key, value.shape, target.shape))
        if mismatched or (strict and (missing or unexpected)):
            raise StateDictError(missing if strict else [], unexpected if strict else [], mismatched)
        touched: list[Module] = []
        with no_grad():
            for key, owner, _, target in entries:
                if key not in state_dict:
                    continue
                value = state_dict[key]
                if isinstance(target, UninitializedParameter):
                    target.materialize(value.shape)
                    touched.append(owner)
                np.copyto(raw(target), raw(value), casting="unsafe")
                target._version.value += 1
        for owner in touched:
            owner._after_lazy_load()
        return IncompatibleKeys(missing, unexpected)

    def _lazy_expected_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Lazy layers override: the shape their parameter ``name`` may take,
        with -1 for a size still to be inferred (default: anything)."""
        return tuple(-1 for _ in shape)

    def _after_lazy_load(self) -> None:
        """Lazy layers override: finish materializing after a load."""

    # --- modes, gradients, devices --------------------------------------------

    def train(self: M, mode: bool = True) -> M:
        if not isinstance(mode, bool):
            raise TypeError(f"Expected a bool but got mode={mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: M) -> M:
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None by default)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """Move and/or cast parameters and buffers in place; returns self.

        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``. Parameters keep
        their identity (the storage inside each Parameter is replaced), and
        their gradients move with them; buffers are replaced by converted
        tensors; plain tensor attributes stay where they are. A dtype applies
        to floating-point members only.
        """
        dev, dtype, _ = _parse_to(args, kwargs)
        if dtype is not None and not _dtypes.is_floating(dtype):
            raise DTypeError(f"Module.to() accepts floating-point dtypes only, got {dtype.name}")
        if dev is not None:
            dev = placement(dev)  # fail before touching anything
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    _move_parameter(param, dev, dtype)
            for name, buf in module._buffers.items():
                if buf is not None:
                    module._buffers[name] = _converted(buf, dev, dtype)
        return self

    def cpu(self: M) -> M:
        return self.to("cpu")

    # --- printing -------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr line."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indent(repr(module), 2)}" for name, module in self._modules.items()]
        body = type(self).__name__ + "("
        if children or len(lines) > 1:
            body += "\n  " + "\n  ".join(lines + children) + "\n"
        elif lines:
            body += lines[0]
        return body + ")"


def _fits(shape: tuple[int, ...], pattern: tuple[int, ...]) -> bool:
    return len(shape) == len(pattern) and all(p in (-1, n) for n, p in zip(shape, pattern, strict=True))


def _converted(t: Tensor, dev: Device | None, dtype: np.dtype[Any] | None) -> Tensor:
    want_dtype = dtype if dtype is not None and _dtypes.is_floating(t.dtype) else t.dtype
    want_dev = t.device if dev is None else dev
    if want_dev is t.device and want_dtype == t.dtype:
        return t
    with no_grad():
        return to_copy(t, want_dev, want_dtype)


def _move_parameter(param: Parameter, dev: Device | None, dtype: np.dtype[Any] | None) -> None:
    if isinstance(param, UninitializedParameter):
        param._move(dev, dtype if dtype is not None else None)
        return
    moved = _converted(param, dev, dtype)
    if moved is not param:
        param._data = moved._data
        param._device = moved._device
        param._version = Version()
    if param._grad is not None:
        param._grad = _converted(param._grad, dev, dtype)
