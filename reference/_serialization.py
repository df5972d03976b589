"""``save`` and ``load``: tensors and containers of them, as safetensors files.

What a file holds: the tensors' bytes as safetensors entries ``"0"``,
``"1"``, ... (one per distinct storage), and in ``__metadata__["blockspec"]``
a JSON document with the structure: container types (list, tuple, dict,
OrderedDict) and key order, Python scalars, each tensor's device,
``requires_grad`` and whether it is a Parameter, and which storage it uses.

Aliasing: the same tensor object saved twice loads as one object; distinct
tensors that are the same view of the same memory (the several state-dict
keys of a tied parameter) load as distinct tensors sharing one array. Other
partial overlaps (a tensor and a slice of it) are saved as separate values.

Nothing is ever unpickled or evaluated; a bad file raises
:class:`~reference.CheckpointError`. Writes are atomic: ``save`` writes a
temporary file beside the target, fsyncs it, renames it over the target and
fsyncs the directory, so a crash leaves the previous file intact (and at
worst a stray ``.<name>.<random>.tmp`` file).

>>> import reference, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "x.safetensors")
>>> reference.save({"x": reference.arange(4)}, path)
>>> reference.load(path)["x"].tolist()
[0, 1, 2, 3]
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any, Union

import numpy as np

from . import _dtypes, _safetensors
from ._device import CPU, Device, DeviceLike, placement
from ._device import device as parse_device
from ._storage import SimBuffer, Version
from ._tensor import Tensor, raw
from .errors import CheckpointError, DeviceError, UninitializedParameterError
from .nn._parameter import Parameter, UninitializedParameter

__all__ = ["FORMAT_VERSION", "MAX_DEPTH", "load", "save"]

Array = np.ndarray[Any, Any]
PathLike = Union[str, "os.PathLike[str]"]
FORMAT_VERSION = 1
MAX_DEPTH = 100  # nested containers; deeper structures are refused both ways
_KEY = "blockspec"


# --- save --------------------------------------------------------------------


class _Encoder:
    """Turns an object tree into JSON-able nodes plus a list of storages."""

    def __init__(self) -> None:
        self.storages: list[tuple[str, Array]] = []
        self.storage_meta: list[dict[str, Any]] = []
        self.tensor_meta: list[dict[str, Any]] = []
        self._tensor_index: dict[int, int] = {}
        self._storage_index: dict[tuple[Any, ...], int] = {}
        self._keep_alive: list[Tensor] = []  # ids stay unique while encoding

    def node(self, obj: object, where: str, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise ValueError(f"reference.save: containers nested deeper than {MAX_DEPTH} at {where} (a cycle?)")
        kind = type(obj)
        if isinstance(obj, Tensor):
            return ["tensor", self.tensor(obj, where)]
        if obj is None:
            return ["none"]
        if kind is bool:
            return ["bool", obj]
        if kind is int:
            return ["int", obj]
        if kind is float:
            return ["float", obj.hex()]  # type: ignore[attr-defined]  # exact, inf and NaN too
        if kind is str:
            return ["str", obj]
        if isinstance(obj, (list, tuple)) and kind in (list, tuple):
            items = [self.node(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]
            return [kind.__name__, items]
        if isinstance(obj, dict) and kind in (dict, OrderedDict):
            pairs = []
            for key, value in obj.items():
                if type(key) not in (str, int):  # JSON keeps these two apart; bool, float, tuple keys it would not
                    raise TypeError(
                        f"reference.save: dict keys must be str or int, got {type(key).__name__} key {key!r} in {where}"
                    )
                pairs.append([key, self.node(value, f"{where}[{key!r}]", depth + 1)])
            return ["odict" if kind is OrderedDict else "dict", pairs]
        raise TypeError(
            f"reference.save cannot store a {kind.__name__} (at {where}); supported: Tensor, "
            "list, tuple, dict/OrderedDict with str or int keys, str, int, float, bool, None"
        )

    def tensor(self, t: Tensor, where: str) -> int:
        if isinstance(t, UninitializedParameter):
            raise UninitializedParameterError(
                f"reference.save: {where} is an uninitialized parameter; run the lazy module once first"
            )
        known = self._tensor_index.get(id(t))
        if known is not None:
            return known
        array = raw(t)
        # Same memory, same layout, same device: one storage, shared on load.
        key = (
            (array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str, str(t.device))
            if array.nbytes
            else None
        )
        storage = self._storage_index.get(key) if key is not None else None
        if storage is None:
            storage = len(self.storages)
            self.storages.append((str(storage), array))  # made C-contiguous when written
            self.storage_meta.append({"device": str(t.device)})
            if key is not None:
                self._storage_index[key] = storage
        index = len(self.tensor_meta)
        self.tensor_meta.append(
            {
                "storage": storage,
                "requires_grad": t.requires_grad,
                "parameter": isinstance(t, Parameter),
            }
        )
        self._tensor_index[id(t)] = index
        self._keep_alive.append(t)
        return index


def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write to a temporary file beside ``path``, fsync it, rename it over
    ``path``, fsync the directory: readers see the old file or the new one."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save(obj: object, path: PathLike) -> None:
    """Save a tensor or a container of tensors (list, tuple, dict,
    OrderedDict, nested; str/int/float/bool/None allowed inside) to ``path``
    as a safetensors file. Tensors on simulated devices are copied to the
    host for writing and remember their device.

    >>> import reference, tempfile, os
    >>> net = reference.nn.Linear(2, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.params")
    >>> reference.save(net.state_dict(), path)
    """
    target = os.fspath(path)
    encoder = _Encoder()
    tree = encoder.node(obj, "obj", 0)
    document = {
        "version": FORMAT_VERSION,
        "storages": encoder.storage_meta,
        "tensors": encoder.tensor_meta,
        "tree": tree,
    }
    metadata = {"format": "np", _KEY: json.dumps(document, separators=(",", ":"), allow_nan=False)}
    _atomic_write(target, lambda f: _safetensors.write(f, encoder.storages, metadata))


# --- load --------------------------------------------------------------------


class _Decoder:
    def __init__(self, path: str, tensors: list[Tensor]) -> None:
        self.path = path
        self.tensors = tensors
        self.used: set[int] = set()

    def bad(self, what: str) -> CheckpointError:
        return CheckpointError(f"Cannot load {self.path!r}: malformed blockspec metadata: {what}")

    def node(self, item: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.bad(f"containers nested deeper than {MAX_DEPTH}")
        if not isinstance(item, list) or not item or not isinstance(item[0], str):
            raise self.bad(f"expected a [tag, ...] node, got {str(item)[:80]}")
        tag, args = item[0], item[1:]
        if tag == "none" and not args:
            return None
        if len(args) != 1:
            raise self.bad(f"node {tag!r} needs exactly one value")
        value = args[0]
        if tag == "tensor" and _is_index(value, len(self.tensors)):
            self.used.add(value)
            return self.tensors[value]
        if tag == "bool" and isinstance(value, bool):
            return value
        if tag == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tag == "float" and isinstance(value, str):
            try:
                return float.fromhex(value)
            except (ValueError, OverflowError):
                raise self.bad(f"invalid float {value[:40]!r}") from None
        if tag == "str" and isinstance(value, str):
            return value
        if tag in ("list", "tuple") and isinstance(value, list):
            items = [self.node(v, depth + 1) for v in value]
            return items if tag == "list" else tuple(items)
        if tag in ("dict", "odict") and isinstance(value, list):
            out: dict[str | int, Any] = OrderedDict() if tag == "odict" else {}
            for pair in value:
                if not isinstance(pair, list) or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise self.bad("dict entries must be [str or int key, node] pairs")
                if pair[0] in out:
                    raise self.bad(f"duplicate dict key {pair[0]!r}")
                out[pair[0]] = self.node(pair[1], depth + 1)
            return out
        raise self.bad(f"unknown or ill-typed node {tag!r}")


def _is_index(value: object, size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _device_for(path: str, saved: object, override: Device | None) -> Device:
    if not isinstance(saved, str):
        raise CheckpointError(f"Cannot load {path!r}: malformed blockspec metadata: device {saved!r}")
    try:
        dev = parse_device(saved)
    except DeviceError:
        raise CheckpointError(f"Cannot load {path!r}: unknown device {saved!r} in the file") from None
    if override is not None:
        return override
    try:
        return placement(dev)
    except DeviceError as exc:
        raise CheckpointError(
            f"Cannot load {path!r}: it holds tensors saved on {dev}, which does not exist here ({exc}); "
            "pass map_location='cpu' (or another device) to reference.load"
        ) from None


def _wrap(array: Array, dev: Device, version: Version, cls: type[Tensor]) -> Tensor:
    t: Tensor = object.__new__(cls)
    t._data = array if dev is CPU else SimBuffer(array, dev._index)  # type: ignore[arg-type]
    t._device = dev
    t._requires_grad = False
    t._grad = None
    t._grad_fn = None
    t._version = version
    return t


def load(path: PathLike, map_location: DeviceLike | None = None) -> Any:
    """Load what :func:`save` wrote. Each tensor returns to the device it was
    saved from, or to ``map_location`` if given. A plain safetensors file
    (no blockspec metadata) loads as a dict of name -> tensor.

    Raises :class:`~reference.CheckpointError` for any malformed file and for
    a path that is no regular file (a directory, a FIFO, which is never
    waited on, a device, a symlink loop); ``OSError`` if the path cannot be
    opened (no such file, no permission).
    """
    target = os.fspath(path)
    override = None if map_location is None else placement(map_location)
    metadata, arrays = _safetensors.read(target)
    if metadata is None or _KEY not in metadata:
        dev = CPU if override is None else override
        return {name: _wrap(array, dev, Version(), Tensor) for name, array in arrays}
    try:
        document = _safetensors.parse_json(metadata[_KEY])
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"Cannot load {target!r}: the blockspec metadata is not valid JSON ({exc})") from None
    return _assemble(target, document, dict(arrays), override)


def _assemble(path: str, document: Any, arrays: dict[str, Array], override: Device | None) -> Any:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"Cannot load {path!r}: malformed blockspec metadata: {what}")

    if not isinstance(document, dict) or set(document) != {"version", "storages", "tensors", "tree"}:
        raise bad("expected an object with version, storages, tensors, tree")
    if document["version"] != FORMAT_VERSION:
        raise bad(f"format version {document['version']!r}; this reader understands {FORMAT_VERSION}")
    storages, tensors = document["storages"], document["tensors"]
    if not isinstance(storages, list) or not isinstance(tensors, list):
        raise bad("storages and tensors must be lists")
    if set(arrays) != {str(i) for i in range(len(storages))}:
        raise bad(f"the file has {len(arrays)} tensor entries but the metadata describes {len(storages)} storages")

    placed: list[tuple[Array, Device, Version]] = []
    for i, info in enumerate(storages):
        if not isinstance(info, dict) or set(info) != {"device"}:
            raise bad(f"storage {i} must be {{'device': ...}}")
        placed.append((arrays[str(i)], _device_for(path, info["device"], override), Version()))

    built: list[Tensor] = []
    used_storages: set[int] = set()
    for i, info in enumerate(tensors):
        if (
            not isinstance(info, dict)
            or set(info) != {"storage", "requires_grad", "parameter"}
            or not _is_index(info["storage"], len(placed))
            or not isinstance(info["requires_grad"], bool)
            or not isinstance(info["parameter"], bool)
        ):
            raise bad(f"tensor {i} must be {{'storage': index, 'requires_grad': bool, 'parameter': bool}}")
        array, dev, version = placed[info["storage"]]
        used_storages.add(info["storage"])
        if info["requires_grad"] and not _dtypes.is_floating(array.dtype):
            raise bad(f"tensor {i} of dtype {array.dtype} cannot require grad")
        t = _wrap(array, dev, version, Parameter if info["parameter"] else Tensor)
        t._requires_grad = info["requires_grad"]
        built.append(t)
    if len(used_storages) != len(placed):
        raise bad("some storages are not used by any tensor")

    decoder = _Decoder(path, built)
    try:
        result = decoder.node(document["tree"], 0)
    except RecursionError:
        raise bad("the structure is nested too deeply") from None
    if len(decoder.used) != len(built):
        raise bad("some tensors are not referenced by the structure")
    return result
