"""Looking inside a module and its forward: unregistered members, and what each operation was given.

The walks report *paths* (``self.layers[1]``) so that every finding names
the attribute at fault; the recorders are torch function/dispatch modes that
watch every operation of one forward.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

if TYPE_CHECKING:
    import torch

#: How deep plain containers are searched for unregistered members.
_DEPTH = 4


@dataclass(frozen=True)
class Unregistered:
    """A module, parameter or tensor reachable from an attribute but not registered."""

    path: str  # e.g. self.layers or self.block.table['a']
    kind: str  # "nn.Module", "nn.Parameter" or "tensor"
    count: int
    container: str  # "list", "tuple", "dict", "set" or "" (the attribute itself)
    example: Any
    #: Every member is a module with no parameter, no buffer and no train/eval behaviour (MOD-HELPERS-REGISTERED).
    stateless: bool = False

    def describe(self) -> str:
        if self.container:
            return f"{self.path} is a plain {self.container} holding {self.count} {self.kind}(s)"
        return f"{self.path} is a plain {self.kind} attribute"

    @property
    def fix(self) -> str:
        name = self.path.rsplit(".", 1)[-1]
        if self.kind == "nn.Module":
            if self.container == "dict":
                return "wrap it in nn.ModuleDict"
            if self.container:
                return "wrap it in nn.ModuleList"
            return f"assign it as self.{name} = ... after super().__init__()"
        if self.kind == "nn.Parameter" or (self.kind == "tensor" and getattr(self.example, "requires_grad", False)):
            if self.container == "dict":
                return "wrap it in nn.ParameterDict"
            if self.container:
                return "wrap it in nn.ParameterList"
            return f"make it a parameter: self.{name} = nn.Parameter(...)"
        if self.container:
            return "register each tensor with self.register_buffer(name, tensor) (or keep them in a module)"
        return (
            f"register it: self.register_buffer({name!r}, tensor) "
            "(persistent=False if it need not be saved, and then it must be deterministic)"
        )


def registered_ids(root: torch.nn.Module) -> set[int]:
    """``id`` of every module, parameter and buffer ``root`` registers (ties and duplicates included)."""
    found = {id(m) for m in root.modules()}
    found |= {id(p) for _, p in root.named_parameters(remove_duplicate=False)}
    found |= {id(b) for _, b in root.named_buffers(remove_duplicate=False)}
    return found


def unregistered(root: torch.nn.Module) -> list[Unregistered]:
    """Every attribute of ``root`` or a submodule that holds unregistered modules, parameters or tensors."""
    import torch

    internal = set(vars(torch.nn.Module()))
    known = registered_ids(root)
    findings: list[Unregistered] = []

    def kind(value: Any) -> str | None:
        if isinstance(value, torch.nn.Module):
            return "nn.Module"
        if isinstance(value, torch.nn.Parameter):
            return "nn.Parameter"
        if isinstance(value, torch.Tensor):
            return "tensor"
        return None

    def leaves(value: Any, depth: int) -> Iterator[Any]:
        if kind(value) is not None:
            yield value
        elif depth < _DEPTH and isinstance(value, dict):
            for item in value.values():
                yield from leaves(item, depth + 1)
        elif depth < _DEPTH and isinstance(value, list | tuple | set | frozenset):
            for item in value:
                yield from leaves(item, depth + 1)

    for prefix, module in root.named_modules(prefix="self"):
        for name, value in vars(module).items():
            if name in internal:
                continue
            missing = [v for v in leaves(value, 0) if id(v) not in known]
            if not missing:
                continue
            kinds = sorted({k for v in missing if (k := kind(v)) is not None})
            container = "" if kind(value) is not None else _container(value)
            stateless = all(isinstance(v, torch.nn.Module) and is_stateless(v) for v in missing)
            findings.append(Unregistered(f"{prefix}.{name}", kinds[0], len(missing), container, missing[0], stateless))
    return findings


def is_stateless(module: torch.nn.Module) -> bool:
    """No parameter, no buffer and no train/eval behaviour anywhere in ``module``: nothing to save, move or switch.

    Train/eval behaviour is read from the source of each submodule class's forward (``training`` in it, as
    in dropout and batch norm); a forward whose source cannot be read counts as having some.
    """
    if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
        return False
    for cls in {type(m) for m in module.modules()}:
        try:
            source = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            return False
        if "training" in source:
            return False
    return True


def reads_training(root: torch.nn.Module) -> list[str]:
    """Class names of the modules in ``root`` whose forward reads ``training`` (dropout, batch norm...), by source."""
    found: list[str] = []
    for cls in {type(m): None for m in root.modules()}:
        try:
            source = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            continue
        if "training" in source and cls.__name__ not in found:
            found.append(cls.__name__)
    return found


def _container(value: Any) -> str:
    for kind, name in ((dict, "dict"), (list, "list"), (tuple, "tuple"), ((set, frozenset), "set")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def forward_globals(root: torch.nn.Module) -> Iterator[tuple[str, Any]]:
    """(``module:name``, value) of the globals that the forward of each submodule's class can see."""
    seen: set[int] = set()
    for module in root.modules():
        forward = getattr(type(module), "forward", None)
        namespace = getattr(forward, "__globals__", None)
        if namespace is None or id(namespace) in seen or type(module).__module__.startswith("torch."):
            continue
        seen.add(id(namespace))
        for name, value in list(namespace.items()):
            yield f"{namespace.get('__name__', '?')}:{name}", value


def global_owner(root: torch.nn.Module, tensor: torch.Tensor) -> str | None:
    """The module-scope name that holds ``tensor`` (a global layer or tensor a forward uses), if any."""
    import torch

    for name, value in forward_globals(root):
        if value is tensor:
            return name
        if isinstance(value, torch.nn.Module):
            for pname, param in value.named_parameters():
                if param is tensor:
                    return f"{name}.{pname}"
    return None


def grad_cutting_hints(root: torch.nn.Module) -> list[str]:
    """Forward methods whose source uses ``.data``, ``.detach()`` or a no-grad block."""
    hints = []
    seen: set[type] = set()
    for path, module in root.named_modules(prefix="self"):
        cls = type(module)
        if cls in seen or cls.__module__.startswith("torch."):
            continue
        seen.add(cls)
        try:
            source = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            continue
        used = [w for w in (".data", ".detach()", "no_grad", "inference_mode") if w in source]
        if used:
            hints.append(f"{cls.__name__}.forward ({path}) uses {', '.join(used)}")
    return hints


def _flat(values: Any) -> Iterator[Any]:
    if isinstance(values, list | tuple):
        for v in values:
            yield from _flat(v)
    elif isinstance(values, dict):
        for v in values.values():
            yield from _flat(v)
    else:
        yield values


@contextmanager
def record_function_args(on_tensor: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """Call ``on_tensor(op name, tensor)`` for every tensor argument of every torch function in the block."""
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            import torch

            for value in _flat([args, kwargs or {}]):
                if isinstance(value, torch.Tensor):
                    on_tensor(getattr(func, "__name__", str(func)), value)
            return func(*args, **(kwargs or {}))

    with _Mode():
        yield


@contextmanager
def record_ops(
    on_op: Callable[[str, list[torch.Tensor]], None],
    on_result: Callable[[str, list[torch.Tensor], Any], None] | None = None,
) -> Iterator[None]:
    """Call ``on_op(aten op name, tensor arguments)`` for every operator dispatched in the block
    (and ``on_result(name, tensor arguments, output)`` after it, when given)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Mode(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
        ) -> Any:
            import torch

            tensors = [v for v in _flat([args, kwargs or {}]) if isinstance(v, torch.Tensor)]
            on_op(str(func), tensors)
            out = func(*args, **(kwargs or {}))
            if on_result is not None:
                on_result(str(func), tensors, out)
            return out

    with _Mode():  # type: ignore[no-untyped-call]
        yield


@contextmanager
def seeded(data: st.DataObject) -> Iterator[int]:
    """A drawn seed for torch's global generator inside the block (module init, dropout); the caller's is kept."""
    import torch

    seed = data.draw(st.integers(0, 2**31 - 1), label="torch seed (module init)")
    with torch.random.fork_rng(devices=[]):
        seed_generators(seed)
        yield seed


def seed_generators(seed: int) -> None:
    """Seed the generators ``torch.manual_seed`` seeds, except those of accelerators this machine lacks.

    ``torch.manual_seed`` also seeds every accelerator type torch knows (CUDA, XPU, MTIA), and for each
    one not yet initialized it queues the seed and records the caller's stack as text, for an error
    message. Deep in hypothesis's shrinker that costs about 9 ms a call, most of a small module's
    shrink. Here the CPU generator is seeded, and the accelerator this machine has, if any, as
    ``torch.manual_seed`` would (queued until it starts, where it has not).
    """
    import torch

    torch.default_generator.manual_seed(seed)
    accelerator = torch.accelerator.current_accelerator()
    if accelerator is not None:
        module = torch.get_device_module(accelerator)
        seed_all = getattr(module, "manual_seed_all", None) or module.manual_seed  # MPS has one device, no _all
        seed_all(seed)
