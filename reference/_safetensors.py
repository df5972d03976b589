"""The safetensors container: write it, and read it defensively.

Layout (https://github.com/huggingface/safetensors): an unsigned 64-bit
little-endian header length ``N``; ``N`` bytes of UTF-8 JSON mapping each
tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` plus an
optional ``"__metadata__"`` of string pairs; then the raw little-endian
bytes, tensors back to back. Files written here are readable by the
``safetensors`` library.

The reader treats the file as hostile: it checks the header length against
the file size *before* reading it, caps it, parses JSON without NaN literals
or duplicate keys, and checks every dtype, shape and offset (in range,
matching the shape, at most 64 dimensions, a size NumPy can hold, no
overlap, no gap) before it allocates anything — so
allocations never exceed the file size. Every problem is a
:class:`~reference.CheckpointError` naming the path and the defect.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
import struct
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

from . import _dtypes
from .errors import CheckpointError

__all__ = ["MAX_DIMS", "MAX_HEADER_BYTES", "read", "write"]

Array = np.ndarray[Any, Any]

# The safetensors library refuses headers above 100 MB; so do we.
MAX_HEADER_BYTES = 100_000_000
#: The most dimensions a tensor may have (NumPy's own limit).
MAX_DIMS = 64
_MAX_ARRAY_BYTES = 2**63 - 1  # NumPy's limit on an array's size in bytes, with or without a zero dimension

CODES: dict[np.dtype[Any], str] = {
    _dtypes.bool_: "BOOL",
    _dtypes.uint8: "U8",
    _dtypes.int8: "I8",
    _dtypes.int16: "I16",
    _dtypes.int32: "I32",
    _dtypes.int64: "I64",
    _dtypes.float16: "F16",
    _dtypes.float32: "F32",
    _dtypes.float64: "F64",
}
DTYPES: dict[str, np.dtype[Any]] = {code: dt for dt, code in CODES.items()}
_LITTLE = sys.byteorder == "little"


def _little_endian(array: Array) -> Array:
    if _LITTLE or array.dtype.itemsize == 1:
        return array
    return array.astype(array.dtype.newbyteorder("<"))


def write(f: IO[bytes], tensors: Sequence[tuple[str, Array]], metadata: dict[str, str]) -> None:
    """Write ``tensors`` (name, host array) in order, then their bytes."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors:
        size = array.nbytes
        header[name] = {
            "dtype": CODES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")
    blob += b" " * (-len(blob) % 8)  # keep the data 8-byte aligned, as the library does
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for _, array in tensors:
        if array.nbytes:
            contiguous = _little_endian(array if array.flags.c_contiguous else np.array(array, order="C"))
            # A byte view writes straight from the array: no second copy.
            f.write(contiguous.reshape(-1).view(np.uint8).data)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(text: str) -> Any:
    """Strict JSON: no NaN/Infinity literals, no duplicate keys."""
    return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return (
            "it is a zip archive (a PyTorch torch.save checkpoint?); reference.load "
            "reads safetensors files only and never unpickles"
        )
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "it is a Python pickle stream; reference.load reads safetensors files only and never unpickles"
    return None


def _open_regular(path: str, bad: Callable[[str], CheckpointError]) -> io.BufferedReader:
    """``path`` opened for reading if it is a regular file, else :class:`CheckpointError`.

    Opened non-blocking, so that a FIFO with no writer is refused instead of
    waiting forever; the file type is checked on the open descriptor (no race).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise bad("it is a symlink loop") from None
        if exc.errno == errno.EISDIR:
            raise bad("it is a directory, not a file") from None
        raise  # no such file, no permission: the path, not the file's content
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device"
        raise bad(f"it is {kind}, not a regular file")
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read(path: str) -> tuple[dict[str, str] | None, list[tuple[str, Array]]]:
    """Parse and validate the file at ``path``: ``(metadata, [(name, array)])``
    with tensors in file order. Only :class:`CheckpointError` for bad
    content and for a path that is no regular file (a directory, a FIFO, a
    device, a symlink loop); ``OSError`` if the path cannot be opened."""

    head = b""

    def bad(what: str) -> CheckpointError:
        # Say what the file looks like instead, if it resembles a known
        # unsafe format. Only once it has failed as safetensors: a valid
        # header length may well begin with the byte 0x80.
        return CheckpointError(f"Cannot load {path!r}: {_sniff(head) or what}")

    with _open_regular(path, bad) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise bad("the file is empty")
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"the file has only {len(head)} bytes; a safetensors file starts with an 8-byte header length")
        length = int.from_bytes(head, "little")
        available = size - 8
        if length == 0:
            raise bad("the header length is 0")
        if length > available:
            raise bad(
                f"the header length field says {length} bytes but only {available} bytes follow it "
                "(the file is truncated or not a safetensors file)"
            )
        if length > MAX_HEADER_BYTES:
            raise bad(f"the header length {length} exceeds the {MAX_HEADER_BYTES}-byte limit")
        raw_header = f.read(length)
        if len(raw_header) != length:
            raise bad("the file ended inside the header (truncated)")
        try:
            header = parse_json(raw_header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise bad(f"the header is not valid JSON ({exc})") from None
        if not isinstance(header, dict):
            raise bad("the header is not a JSON object")

        metadata = header.pop("__metadata__", None)
        if metadata is not None and (
            not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
        ):
            raise bad("__metadata__ must map strings to strings")

        data_size = available - length
        entries: list[tuple[int, int, str, np.dtype[Any], tuple[int, ...]]] = []
        for name, info in header.items():
            if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
                raise bad(f"tensor {name!r} needs exactly the fields dtype, shape, data_offsets")
            code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
            if not isinstance(code, str) or code not in DTYPES:
                raise bad(f"tensor {name!r} has unsupported dtype {code!r}; supported: {', '.join(DTYPES)}")
            if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
                raise bad(f"tensor {name!r} has an invalid shape {_short(shape)}")
            if len(shape) > MAX_DIMS:
                raise bad(f"tensor {name!r} has {len(shape)} dimensions; an array has at most {MAX_DIMS}")
            if (
                not isinstance(offsets, list)
                or len(offsets) != 2
                or not all(_is_count(o) for o in offsets)
                or offsets[0] > offsets[1]
            ):
                raise bad(f"tensor {name!r} has invalid data_offsets {offsets!r}")
            begin, end = offsets
            if end > data_size:
                raise bad(f"tensor {name!r} ends at byte {end} of a {data_size}-byte data section")
            dtype = DTYPES[code]
            # Python ints: a huge shape cannot overflow into a small product.
            if math.prod(shape) * dtype.itemsize != end - begin:
                raise bad(
                    f"tensor {name!r}: shape {_short(shape)} of {code} needs "
                    f"{math.prod(shape) * dtype.itemsize} bytes but data_offsets span {end - begin}"
                )
            # Even an empty array needs its other dimensions to fit a byte count: numpy refuses (0, 2**62, 4).
            if math.prod(n for n in shape if n) * dtype.itemsize > _MAX_ARRAY_BYTES:
                raise bad(f"tensor {name!r}: shape {_short(shape)} of {code} is too big for any array")
            entries.append((begin, end, name, dtype, tuple(shape)))

        entries.sort(key=lambda e: (e[0], e[1]))
        position = 0
        for begin, end, name, _, _ in entries:
            if begin != position:
                problem = "overlaps the previous tensor" if begin < position else f"leaves a gap at byte {position}"
                raise bad(f"tensor {name!r} at bytes [{begin}, {end}) {problem}")
            position = end
        if position != data_size:
            raise bad(f"the tensors cover {position} bytes but the data section has {data_size}")

        arrays: list[tuple[str, Array]] = []
        for _, _, name, dtype, shape in entries:
            # Checked above: the sum of all sizes equals the data section.
            try:
                array = np.empty(shape, dtype=dtype.newbyteorder("<"))
            except (ValueError, MemoryError) as exc:  # checked above; kept so nothing but CheckpointError escapes
                raise bad(f"tensor {name!r}: shape {_short(shape)} cannot be allocated ({exc})") from None
            if array.nbytes:
                got = f.readinto(array.reshape(-1).view(np.uint8).data)
                if got != array.nbytes:
                    raise bad(f"the file ended inside tensor {name!r} (it changed while being read?)")
            if not array.dtype.isnative:
                array = array.astype(dtype)
            arrays.append((name, array))
    # Entries are in offset order; report them in header order as written.
    order = {name: i for i, name in enumerate(header)}
    arrays.sort(key=lambda item: order[item[0]])
    return metadata, arrays
