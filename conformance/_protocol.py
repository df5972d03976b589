"""The Backend protocol: what a framework adapter gives the suite.

The suite never imports a framework. An adapter builds the chapter's blocks
in its framework's own idiom and lets the suite observe them: tensors go in
and come out as NumPy arrays, parameters are reached through names and
opaque handles, devices are strings. Members are grouped by the capability
that makes them meaningful; a member of a capability the adapter does not
declare is never called, so it may raise ``NotImplementedError``.

Handles (modules, parameters, tensors) are the framework's own objects and
are compared with ``is``: the suite asks whether two positions hold *the
same* parameter, exactly as the chapter does with ``net[2].weight``.

How long a handle lives, and what identity it promises:

- A handle stays valid as long as the module it came from: the suite may
  read, assign and initialize through it after other calls on that module
  (``forward``, ``apply``, ``load_state_dict``, ``module_to``).
- Asked twice for the same parameter (through one member or two, under one
  name or an alias), the adapter returns the same object (``is``) *while the
  suite holds the first one*. The framework's own objects do this by nature;
  an adapter that wraps them in views keeps one view per parameter for as
  long as the view is held (Flax's ``ParamView``, a weak cache).
- Identity is promised for held handles only. The suite compares handles with
  ``is`` only while it holds both, and never keys anything by ``id()`` of a
  handle it let go (an ``id`` may be reused, or a view made anew): a snapshot
  of parameters is keyed by name (INIT-PER-LAYER).

See ``conformance/backends/torch`` for a complete adapter and the README's
"Write your own backend" for a walk-through.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from conformance import arch as A

Tensor = Any
Module = Any
Parameter = Any

#: The chapter's blocks a backend provides by name through ``Backend.chapter``.
CHAPTER_BLOCKS = (
    "MLP",
    "FixedHiddenMLP",
    "MySequential",
    "block1",
    "block2",
    "rgnet",
    "tied_net",
    "CenteredLayer",
    "MyLinear",
)

#: The chapter's initialization functions, applied with ``net.apply(fn)``.
CHAPTER_INITS = ("init_normal", "init_constant", "init_xavier", "init_42", "my_init")

#: Initializers a backend exposes through ``Backend.init_``, with their keyword arguments.
INITIALIZERS: Mapping[str, tuple[str, ...]] = {
    "normal": ("mean", "std"),
    "zeros": (),
    "constant": ("value",),
    "uniform": ("a", "b"),
    "xavier_uniform": ("gain",),
}

#: The memory layouts ``Backend.strided_view`` makes, each as the NumPy view of a tensor's values ``a`` it
#: must hold: the suite computes what a view holds from NumPy, never from the framework.
LAYOUTS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "transposed": lambda a: a.T,  # every dimension reversed (a transpose, for a matrix)
    "step": lambda a: a[::2],  # every other index of dimension 0 (a slice with step 2)
    "offset": lambda a: a[1:],  # dimension 0 without its first index (a narrow: a view at a storage offset)
}


@dataclass(frozen=True)
class Gradients:
    """Gradients of ``sum(output * cotangent)``: for the input, and per parameter name."""

    input: np.ndarray
    params: dict[str, np.ndarray]
    devices: dict[str, str] = field(default_factory=dict)  # where each parameter's gradient lives


@dataclass(frozen=True)
class LoadResult:
    """What a non-strict load reports: keys the model wanted but did not get, and the reverse."""

    missing: list[str]
    unexpected: list[str]


class LoadRejected(Exception):
    """Raised by an adapter when its framework refuses a state dict (strict mismatch or bad shape).

    ``message`` is the framework's own message, which the suite searches for
    the offending keys.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@runtime_checkable
class Backend(Protocol):
    """A framework under test.

    Required members serve every clause; the groups below them serve the
    clauses of one capability each (see ``spec.CAPABILITIES``).
    """

    #: Short name used in reports (``torch``, ``reference``).
    name: str
    #: Capabilities the framework has (keys of ``spec.CAPABILITIES``).
    capabilities: frozenset[str]
    #: Float dtypes modules can be built in, by NumPy name (``float32`` first).
    float_dtypes: tuple[str, ...]
    #: Every dtype tensors can hold (NumPy names, plus ``bfloat16`` where supported).
    dtypes: tuple[str, ...]
    #: The host (CPU) device as the framework names it: ``cpu`` for torch, flax and the
    #: reference, ``CPU`` for tinygrad. The suite never spells the host itself: it passes
    #: this name to ``tensor``/``to_device``/``load`` and expects it back from ``device_of``,
    #: ``try_gpu`` and ``try_all_gpus``, and ``--device`` defaults to it.
    host_device: str

    def version(self) -> str:
        """The framework's version string (``torch.__version__``)."""
        ...

    def environment(self) -> dict[str, str]:
        """Facts about the framework's build worth a report line (CUDA version, BLAS, ...)."""
        ...

    # --- tensors and devices -------------------------------------------------
    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Tensor:
        """A framework tensor with ``array``'s values, on ``device`` (None: the framework default)."""
        ...

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        """Copy ``tensor`` to a host NumPy array (bfloat16: as float32), detached from autograd."""
        ...

    def bits(self, tensor: Tensor) -> tuple[str, tuple[int, ...], bytes]:
        """``tensor``'s dtype name, shape and raw bytes in C order, for bitwise comparison."""
        ...

    def strided_view(self, tensor: Tensor, layout: str) -> Tensor:
        """A view of ``tensor`` in the memory ``layout`` named, a key of :data:`LAYOUTS`, made with the framework's
        own operation: ``transposed`` (``t.T``, every dimension reversed; the suite asks it of 2 or more
        dimensions), ``step`` (``t[::2]``) or ``offset`` (``t[1:]``, a narrow; both of 1 or more dimensions).

        It holds ``LAYOUTS[layout]`` of ``tensor``'s values. Frameworks without views return what their own
        slicing or transpose returns (a copy, for JAX); the adapter adds no copy of its own.
        """
        ...

    def device_of(self, tensor: Tensor) -> str:
        """Where ``tensor`` lives, as the framework names it (``host_device``, ``cuda:0``)."""
        ...

    def accelerators(self) -> list[str]:
        """The accelerator devices present now, in index order (empty on a CPU-only machine)."""
        ...

    # --- modules ---------------------------------------------------------------
    def build(self, node: A.Node, *, dtype: str = "float32", device: str | None = None) -> Module:
        """Build the architecture ``node`` in the framework's idiom; see :mod:`conformance.arch`.

        Build through :func:`conformance.arch.build_tree`: it shares a reused
        layer, and (capability ``param-ties``) runs its ``tie`` hook for every
        layer whose ``weight_of`` names another, after the whole tree is built.
        """
        ...

    def chapter(self, name: str, *, device: str | None = None) -> Module:
        """One of :data:`CHAPTER_BLOCKS`, written as the chapter writes it.

        ``MyLinear`` is built as ``MyLinear(5, 3)``; ``MySequential`` holds
        ``Linear(20, 256), ReLU(), Linear(256, 10)``.
        """
        ...

    def forward(self, module: Module, x: Tensor) -> Tensor:
        """Call ``module`` on ``x`` the framework's usual way (``module(x)``)."""
        ...

    def gradients(self, module: Module, x: Tensor, cotangent: np.ndarray) -> Gradients:
        """Gradients of ``sum(module(x) * cotangent)`` w.r.t. ``x`` and each named parameter.

        Must leave no gradient state behind (PyTorch: grads set back to None).
        """
        ...

    def named_parameters(self, module: Module) -> list[tuple[str, Parameter]]:
        """``module.named_parameters()``: each parameter once, dotted names, registration order.

        The handles are the framework's parameters (or one stable view each): asked again while the
        suite holds a handle, the same parameter is the same object (see the module docstring).
        """
        ...

    def state_dict(self, module: Module) -> list[tuple[str, Tensor]]:
        """``module.state_dict()`` as ordered pairs: every alias key, buffers included."""
        ...

    def load_state_dict(self, module: Module, state: Mapping[str, Tensor], *, strict: bool) -> LoadResult:
        """Load ``state`` into ``module``; raise :class:`LoadRejected` when the framework refuses."""
        ...

    def named_children(self, module: Module) -> list[tuple[str, Module]]:
        """Direct children under their registration names, in order."""
        ...

    def index(self, module: Module, i: int) -> Module:
        """``module[i]`` for a sequential container (negative ``i`` counts from the end)."""
        ...

    def length(self, module: Module) -> int:
        """``len(module)`` for a sequential container."""
        ...

    def iterate(self, module: Module) -> list[Module]:
        """``list(module)`` for a sequential container."""
        ...

    def is_parameter(self, obj: Any) -> bool:
        """Whether ``obj`` is marked as a parameter, as opposed to a plain tensor.

        A framework with a parameter class answers ``isinstance(obj, Parameter)``;
        one that marks trainable tensors with a flag (tinygrad's ``requires_grad``)
        answers with that flag. Either way the answer must come from the object.
        """
        ...

    def manual_seed(self, seed: int) -> None:
        """Seed every random generator the framework's initializers use."""
        ...

    def init_(self, parameter: Parameter, scheme: str, **kwargs: float) -> None:
        """Apply an initializer of :data:`INITIALIZERS` in place (``nn.init.normal_(p, mean=0, std=1)``)."""
        ...

    def chapter_init(self, name: str) -> Callable[[Module], None]:
        """One of :data:`CHAPTER_INITS`, written as the chapter writes it (a function of a module)."""
        ...

    # --- capability: grad-attribute ------------------------------------------
    def backward(self, module: Module, x: Tensor, cotangent: np.ndarray) -> None:
        """Run ``sum(module(x) * cotangent).backward()``, accumulating into each ``.grad``."""
        ...

    def grad(self, parameter: Parameter) -> np.ndarray | None:
        """``parameter.grad`` as NumPy, or None when it has none."""
        ...

    # --- capability: mutable-parameters ---------------------------------------
    def assign(self, parameter: Parameter, value: np.ndarray) -> None:
        """Write ``value`` into ``parameter`` in place (``p.data[:] = value``), keeping the object."""
        ...

    # --- capability: apply -----------------------------------------------------
    def apply(self, module: Module, fn: Callable[[Module], None]) -> None:
        """``module.apply(fn)``: the framework's own traversal, calling ``fn`` on each module."""
        ...

    # --- capability: module-repr -----------------------------------------------
    def describe(self, module: Module) -> str:
        """What printing ``module`` shows (``str(module)``)."""
        ...

    # --- capability: file-io -----------------------------------------------------
    def save(self, obj: Any, path: Path) -> None:
        """Save a tensor, or a list/tuple/dict nesting of tensors, to ``path``."""
        ...

    def load(self, path: Path, map_location: str | None = None) -> Any:
        """Load what :meth:`save` wrote; ``map_location`` puts every tensor on that device.

        Must raise (any exception) for a file it cannot load safely.
        """
        ...

    # --- capability: module-checkpoint ------------------------------------------------
    def save_checkpoint(self, module: Module, path: Path) -> None:
        """Save ``module``'s state to ``path`` the framework's own way, as its users do.

        PyTorch: ``torch.save(net.state_dict(), path)``; Keras: ``net.save_weights(path)``. The suite has
        called ``module`` once before (the chapter's ``Y = net(X)``: Keras saves built models only), and
        names ``path`` with the backend's ``checkpoint_suffix``.
        """
        ...

    def load_checkpoint(self, module: Module, path: Path) -> None:
        """Load what :meth:`save_checkpoint` wrote into ``module``, built by code and called once.

        PyTorch: ``net.load_state_dict(torch.load(path))``; Keras: ``net.load_weights(path)``. Whatever
        the framework refuses (a damaged file, a file that would run code) raises, any exception.
        """
        ...

    # --- capability: accelerator ---------------------------------------------------
    def device_count(self) -> int:
        """The framework's own count of accelerators (``torch.cuda.device_count()``)."""
        ...

    def try_gpu(self, i: int = 0) -> str:
        """The chapter's ``try_gpu(i)``, written in the framework; the device as a string."""
        ...

    def try_all_gpus(self) -> list[str]:
        """The chapter's ``try_all_gpus()``, written in the framework."""
        ...

    def to_device(self, tensor: Tensor, device: str) -> Tensor:
        """A copy of ``tensor`` on ``device`` (``x.to(device)``)."""
        ...

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """``a + b`` in the framework (the chapter's ``Y + Z``)."""
        ...

    def module_to(self, module: Module, device: str) -> Module:
        """``module.to(device)``; return what the framework returns."""
        ...

    def named_buffers(self, module: Module) -> list[tuple[str, Tensor]]:
        """``module.named_buffers()``: registered non-parameter tensors."""
        ...

    # --- capability: dtype-conversion ------------------------------------------------
    def module_to_dtype(self, module: Module, dtype: str) -> Module:
        """``module.to(dtype)`` (``.double()``, ``.float()``) for a float dtype; return what the framework returns."""
        ...

    # --- capability: device-names ---------------------------------------------------
    def accelerator_type(self) -> str:
        """The accelerator device type name (``cuda``), used unindexed and indexed."""
        ...

    # --- capability: device-objects -------------------------------------------------
    def device_equal(self, a: str, b: str) -> bool:
        """Whether the framework's device objects named ``a`` and ``b`` compare equal."""
        ...

    # --- capability: device-count-control ------------------------------------------------
    def set_device_count(self, count: int) -> None:
        """Make ``count`` accelerators present (simulated devices); the suite restores the old count."""
        ...


#: Optional members for checkpoint interop (``blockspec interop``, the INTEROP-* clauses). A backend
#: offering both is checked in every ordered pair with every other that does:
#:
#: ``write_safetensors(module, path)``: write ``module``'s state dict to a safetensors file with the
#: framework's own safetensors integration, the path its users use (``safetensors.torch.save_model``,
#: tinygrad's ``safe_save(get_state_dict(m))``), keys named as ``interop_names`` says;
#: ``read_safetensors(path) -> dict[str, Tensor]``: read such a file with the framework's own reader
#: (``safetensors.torch.load_file``, tinygrad's ``safe_load``), each value a tensor of the framework.
#: ``interop_names``: how the framework's own files name the architecture's paths, where they differ
#: from the chapter's dotted paths: ``"Sequential"``, the template of a sequential container's child
#: (Flax' ``nnx.Sequential`` holds ``layers.{}``), and ``"Kind.leaf"`` (or ``"leaf"``), a parameter's
#: name (Flax' ``{"Linear.weight": "kernel"}``).
#: ``interop_writer_failures`` / ``interop_reader_failures``: a known-failure manifest (INTEROP-* clauses)
#: of what the framework gets wrong as the writer / the reader of a pair, whatever the other side.
INTEROP_MEMBERS: tuple[str, ...] = ("write_safetensors", "read_safetensors")


#: Optional attributes an adapter may set, with the value assumed when it does not.
#: ``compiles_per_shape``: the framework compiles a kernel for every new shape (JAX, tinygrad), so the
#: run draws sizes from a small per-run palette (``blockspec run --shapes``; see
#: :class:`conformance.kit.strategies.Palette`) to bound how many shapes it compiles.
#: ``weight_layouts``: how each layer type stores its weight, a mapping from layer kind (``Linear``,
#: ``LazyLinear``, ``MyLinear``) to ``"out_in"`` or ``"in_out"``; a kind left out keeps the chapter's
#: (PyTorch's) layout, :data:`conformance.arch.CHAPTER_LAYOUTS`. Flax's ``nnx.Linear`` and Keras'
#: ``Dense`` store their kernel (in, out): their adapters declare ``{"Linear": "in_out", ...}`` and show
#: the kernel as the framework holds it; the suite's expected shapes, its oracle and its ties compute
#: in the declared layouts (see :func:`weight_layouts`).
#: ``min_input_rank``: the lowest rank of input the framework's layers accept (1: a vector, as PyTorch's
#: ``nn.Linear`` takes ``(*, in)``). Keras' ``Dense`` refuses a vector (its ``InputSpec`` has
#: ``min_ndim=2``), so its adapter declares 2 and the suite draws inputs of rank 2 to 4 there.
#: ``checkpoint_suffix``: how a checkpoint's file name must end for the framework's checkpoint path
#: (capability ``module-checkpoint``); the suite names every checkpoint file, the damaged and the
#: malicious ones included, with it. Keras' ``save_weights`` writes only a name ending in
#: ``.weights.h5`` (and ``load_weights`` picks its reader by the ending); PyTorch needs none.
OPTIONAL_ATTRIBUTES: Mapping[str, object] = {
    "compiles_per_shape": False,
    "checkpoint_suffix": "",
    "weight_layouts": A.CHAPTER_LAYOUTS,
    "interop_names": {},
    "min_input_rank": 1,
}


def min_input_rank(backend: object) -> int:
    """The lowest input rank ``backend``'s layers accept (its ``min_input_rank``, 1 when undeclared)."""
    rank = getattr(backend, "min_input_rank", 1)
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 2:
        raise ValueError(f"Expected min_input_rank to be 1 or 2 but got min_input_rank={rank!r}")
    return rank


def checkpoint_suffix(backend: object) -> str:
    """The ending ``backend``'s checkpoint file names need (its ``checkpoint_suffix``, "" when undeclared)."""
    suffix = getattr(backend, "checkpoint_suffix", "")
    if not isinstance(suffix, str) or "/" in suffix or "\\" in suffix:
        raise ValueError(f"Expected checkpoint_suffix to be a file-name ending like '.weights.h5' but got {suffix!r}")
    return suffix


def weight_layouts(backend: object) -> dict[str, str]:
    """The weight layout of every layer kind for ``backend``: its ``weight_layouts``, completed.

    ``ValueError`` when the adapter declares an unknown layer kind or layout.
    """
    return A.check_layouts(getattr(backend, "weight_layouts", A.CHAPTER_LAYOUTS))


#: The environment variable in which a run names its compile-cache directory (``--compile-cache``).
COMPILE_CACHE_ENV = "BLOCKSPEC_COMPILE_CACHE"


def compile_cache_directory() -> Path | None:
    """Where the run wants the framework to keep compiled code, or None (no run, or none asked).

    The directory is this run's own (removed when it ends) unless the user
    passed ``--compile-cache DIR``; an adapter whose framework has an on-disk
    compile cache points it here when it is imported or constructed, and never
    at a directory shared with other runs.
    """
    value = os.environ.get(COMPILE_CACHE_ENV)
    return Path(value) if value else None


#: Members every adapter must have, whatever it declares.
REQUIRED_MEMBERS: tuple[str, ...] = (
    "name",
    "capabilities",
    "float_dtypes",
    "dtypes",
    "host_device",
    "version",
    "environment",
    "tensor",
    "to_numpy",
    "bits",
    "strided_view",
    "device_of",
    "accelerators",
    "build",
    "chapter",
    "forward",
    "gradients",
    "named_parameters",
    "state_dict",
    "load_state_dict",
    "named_children",
    "index",
    "length",
    "iterate",
    "is_parameter",
    "manual_seed",
    "init_",
    "chapter_init",
)

#: Members a capability additionally requires. Every key is a capability of :data:`spec.CAPABILITIES`,
#: where each capability is defined, once (``tests/spec/test_loader.py`` holds it).
CAPABILITY_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "grad-attribute": ("backward", "grad"),
    "mutable-parameters": ("assign",),
    "apply": ("apply",),
    "module-repr": ("describe",),
    "file-io": ("save", "load"),
    "module-checkpoint": ("save_checkpoint", "load_checkpoint"),
    "accelerator": ("device_count", "try_gpu", "try_all_gpus", "to_device", "add", "module_to"),
    "buffers": ("named_buffers",),
    "device-names": ("accelerator_type",),
    "device-objects": ("device_equal",),
    "device-count-control": ("set_device_count",),
    "dtype-conversion": ("module_to_dtype",),
}


def missing_members(candidate: object) -> list[str]:
    """Protocol members ``candidate`` lacks, given the capabilities it declares."""
    missing = [m for m in REQUIRED_MEMBERS if not hasattr(candidate, m)]
    capabilities: frozenset[str] = getattr(candidate, "capabilities", frozenset())
    for capability, members in CAPABILITY_MEMBERS.items():
        if capability in capabilities:
            missing += [f"{m} (for {capability})" for m in members if not hasattr(candidate, m)]
    return missing


def sequence_names(items: Sequence[tuple[str, Any]]) -> list[str]:
    """The names of a list of (name, value) pairs."""
    return [name for name, _ in items]
