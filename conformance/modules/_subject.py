"""What ``check-module`` checks: a module factory, the shapes of its inputs, dtype and device.

A target is ``package.module:attr`` or ``path/to/file.py:attr``, naming a
zero-argument class or function that returns an ``nn.Module``.
:func:`load_subject` validates everything once, up front, and turns every bad
target into a :class:`ModuleTargetError` (a ``UsageError``: exit status 2)
that names the target, the cause and what to do.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from conformance._errors import UsageError
from conformance.modules._targets import factory_of
from conformance.modules._types import Inputs, InputShapeError, ModuleTargetError

if TYPE_CHECKING:
    import torch

#: Informational findings a module check records in the result file's environment (never verdicts), and
#: how the text output labels them.
INFORMATIONAL = {
    "module_train_eval": "train/eval (informational)",
    "torch_compile_graph_breaks": "torch.compile graph breaks (informational)",
}

#: The dtypes a subject may be checked in.
DTYPES = ("float32", "float64", "float16", "bfloat16")


#: ``--inputs``: a hypothesis strategy of inputs, or a function returning a list of them. An input is an
#: :class:`Inputs`, a tuple of positional arguments, or one tensor.
InputsSource = "SearchStrategy[Any] | Callable[[], Sequence[Any]]"


@dataclass(frozen=True)
class ModuleSubject:
    """A module factory and how to call what it builds."""

    target: str
    factory: Callable[[], Any]
    input_shapes: tuple[tuple[int, ...], ...]
    dtype: str = "float32"
    device: str = "cpu"
    inputs: Any = None  # an InputsSource, or None for float tensors of input_shapes

    #: What the run pipeline reads of any subject: the module-contract clauses need no capability.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @property
    def name(self) -> str:
        """How the subject appears in results: its target."""
        return self.target

    def version(self) -> str:
        """The version of torch that runs the module (result files record it as the subject's version)."""
        import torch

        return f"torch {torch.__version__}"

    def environment(self) -> dict[str, str]:
        """What the result file records of the run: versions, and the informational findings (never verdicts).

        ``module_train_eval``: whether outputs differ between train() and eval(); ``torch_compile_graph_breaks``:
        the graph breaks MOD-COMPILE-PARITY counted in this process, when it ran.
        """
        import torch

        from conformance.modules._notes import information

        return {
            "torch": str(torch.__version__),
            "dtype": self.dtype,
            "cuda": str(torch.cuda.is_available()),
            **information(self),
        }

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)  # type: ignore[no-any-return]

    @property
    def batch(self) -> int:
        """The given batch size: the first dimension of the first input shape (1 for custom inputs)."""
        return self.input_shapes[0][0] if self.input_shapes else 1

    def build(self) -> torch.nn.Module:
        """A fresh instance on the subject's device and dtype, lazy parameters materialized, in train mode."""
        import torch

        module = self.factory()
        module.to(device=self.device, dtype=self.torch_dtype)
        if _has_lazy(module):
            from conformance.modules._inputs import example_inputs

            module.eval()
            with torch.no_grad():
                example = example_inputs(self)
                module(*example.args, **example.kwargs)
            module.train()
        return module  # type: ignore[no-any-return]


def _has_lazy(module: Any) -> bool:
    from torch.nn.modules.lazy import LazyModuleMixin

    return any(isinstance(m, LazyModuleMixin) for m in module.modules())


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"4,6"`` or ``(4, 6)`` as a tuple of positive ints, else :class:`InputShapeError`."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace("x", ",").split(",")]
        try:
            sizes = tuple(int(p) for p in parts)
        except ValueError:
            raise InputShapeError(text, "every size must be an integer") from None
    else:
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in text):
            raise InputShapeError(tuple(text), "every size must be an integer")
        sizes = tuple(text)
    if not sizes:
        raise InputShapeError(text, "no sizes given")
    bad = [s for s in sizes if s <= 0]
    if bad:
        raise InputShapeError(text, f"zero or negative size(s) {bad}")
    return sizes


def resolve(target: str, what: str = "factory") -> Any:
    """The object ``target`` names (``package.module:attr`` or ``file.py:attr``)."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise ModuleTargetError(
            target, f"expected package.module:attr or path/to/file.py:attr naming the {what}", "add ':NAME'"
        )
    if module_part.endswith(".py") or "/" in module_part or "\\" in module_part:
        module = _import_file(target, Path(module_part))
    else:
        try:
            module = importlib.import_module(module_part)
        except (SystemExit, KeyboardInterrupt) as exc:
            raise ModuleTargetError(target, f"importing {module_part} {_factory_exit(exc)}") from None
        except Exception as exc:
            raise ModuleTargetError(
                target, f"cannot import {module_part}: {_one_line(exc)}", "check the name and PYTHONPATH"
            ) from None
    value: Any = module
    for name in attr.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise ModuleTargetError(target, f"{module_part} has no attribute {attr!r}") from None
    return value


def _import_file(target: str, path: Path) -> Any:
    problem = _not_a_file(path)
    if problem:
        raise ModuleTargetError(target, problem, "name a Python file: path/to/file.py:attr")
    name = f"_blockspec_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleTargetError(target, f"{path} cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (SystemExit, KeyboardInterrupt) as exc:
        del sys.modules[name]
        raise ModuleTargetError(target, f"importing {path} {_factory_exit(exc)}{_where(exc)}") from None
    except Exception as exc:
        del sys.modules[name]
        raise ModuleTargetError(target, f"importing {path} raised {_with_frame(exc)}") from None
    return module


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be imported as a Python file, or "" when it is a regular file."""
    import errno
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"no file {path}"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symlink loop"
        return f"{path} cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return f"{path} is a directory, not a Python file"
    if not stat.S_ISREG(mode):
        kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else kind
        return f"{path} is not a regular file ({kind})"
    return ""


def _factory_exit(exc: BaseException) -> str:
    """What a factory's ``sys.exit`` or ``KeyboardInterrupt`` was, in words."""
    if isinstance(exc, SystemExit):
        code = exc.code
        status = 0 if code is None else code if isinstance(code, int) else f"{code!r} (status 1)"
        return f"called sys.exit({code!r}): it would have ended the check with exit status {status}"
    return "raised KeyboardInterrupt (no Ctrl-C reached blockspec)"


def load_subject(
    target: str | Callable[[], Any],
    input_shapes: Sequence[str | Sequence[int]] = (),
    *,
    dtype: str = "float32",
    device: str = "cpu",
    inputs: Any = None,
) -> ModuleSubject:
    """A validated subject: the factory builds an ``nn.Module`` and one forward of the given shape runs.

    >>> import torch  # doctest: +SKIP
    >>> load_subject("torch.nn:ReLU", ["4,6"]).target  # doctest: +SKIP
    'torch.nn:ReLU'
    """
    import torch

    if isinstance(target, str):
        name, factory = target, factory_of(target, resolve)
    else:
        factory = target
        name = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
    if not callable(factory):
        raise ModuleTargetError(
            name, f"{type(factory).__name__} is not callable", "name a zero-argument class or function"
        )
    if dtype not in DTYPES:
        raise UsageError(f"Expected dtype to be one of {list(DTYPES)} but got dtype={dtype!r}")
    shapes = tuple(parse_shape(s) for s in input_shapes)
    if inputs is None and not shapes:
        raise UsageError("no input shape given: pass --input-shape BATCH,SIZE,... (or --inputs module:strategy)")
    if isinstance(inputs, str):
        inputs = resolve(inputs, "inputs strategy or function")
    try:
        torch.empty(0, device=device)
    except Exception as exc:
        raise UsageError(f"device {device!r} cannot be used here: {_one_line(exc)}") from None
    subject = ModuleSubject(name, factory, shapes, dtype, device, inputs)
    try:
        module = factory()
    except (SystemExit, KeyboardInterrupt) as exc:
        # Not an Exception: without this the test process would end here, and the run with it.
        raise ModuleTargetError(
            name,
            f"your module factory {_factory_exit(exc)}{_where(exc)}",
            "the factory must return the module, never exit",
        ) from None
    except Exception as exc:
        raise ModuleTargetError(
            name,
            f"calling the factory raised {_with_frame(exc)}",
            "the factory must build the module with no arguments (wrap it: lambda: MyNet(4, 6))",
        ) from None
    if not isinstance(module, torch.nn.Module):
        raise ModuleTargetError(
            name,
            f"the factory returned {type(module).__name__}, not a torch.nn.Module",
            "name the module class, or a function that returns an instance",
        )
    try:
        subject.build()(*_first(subject).args, **_first(subject).kwargs)
    except ModuleTargetError:
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        raise ModuleTargetError(name, f"building and calling your module {_factory_exit(exc)}{_where(exc)}") from None
    except Exception as exc:
        where = "with inputs of shape " + ", ".join(map(str, shapes)) if shapes else "with the given inputs"
        raise ModuleTargetError(
            name, f"the first forward {where} raised {_with_frame(exc)}", "check --input-shape (batch first)"
        ) from None
    return subject


def _first(subject: ModuleSubject) -> Inputs:
    from conformance.modules._inputs import example_inputs

    try:
        return example_inputs(subject)
    except ModuleTargetError:
        raise
    except Exception as exc:
        raise ModuleTargetError(subject.target, f"the inputs source raised {_with_frame(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _with_frame(exc: BaseException) -> str:
    """The exception and the last frame of its traceback: where to look."""
    return _one_line(exc) + _where(exc)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
