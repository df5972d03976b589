"""Hostile and broken checkpoint files: only CheckpointError may come out,
nothing is unpickled, nothing hangs, nothing allocates beyond the file."""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import CheckpointError, nn

from .draws import SETTINGS


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def safetensors_bytes(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(blob) if length is None else length) + blob + data


def valid_file(tmp_path: Path) -> bytes:
    state = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).state_dict()
    path = tmp_path / "valid.safetensors"
    reference.save([state, {"n": 3, "x": reference.tensor([True])}], path)
    return path.read_bytes()


def expect_checkpoint_error(path: Path, *fragments: str) -> CheckpointError:
    __tracebackhide__ = True
    with pytest.raises(CheckpointError) as info:
        reference.load(path)
    message = str(info.value)
    assert str(path) in message, f"message {message!r} does not name the path {path}"
    for fragment in fragments:
        assert fragment in message, f"message {message!r} does not mention {fragment!r}"
    return info.value


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_checkpoint_error(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = write(tmp_path_factory.mktemp("fuzz") / "random.bin", data)
    with pytest.raises(CheckpointError):
        reference.load(path)


def test_every_truncation_of_a_valid_file_is_refused(tmp_path: Path) -> None:
    data = valid_file(tmp_path)
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    cuts = sorted(
        {*range(0, 24), *range(header_end - 8, header_end + 8), *range(header_end, len(data), 7), len(data) - 1}
    )
    for cut in cuts:
        path = write(tmp_path / "cut.bin", data[:cut])
        with pytest.raises(CheckpointError):
            reference.load(path)
            raise AssertionError(f"a file truncated to {cut} of {len(data)} bytes loaded")


@SETTINGS
@given(data=st.data())
def test_flipped_bytes_load_or_raise_checkpoint_error(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A damaged file either loads or raises CheckpointError: any other exception escapes and fails the test."""
    directory = tmp_path_factory.mktemp("flip")
    original = bytearray(valid_file(directory))
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)), min_size=1, max_size=4),
        label="(offset, xor) flips",
    )
    for offset, mask in flips:
        original[offset] ^= mask
    path = write(directory / "flipped.bin", bytes(original))
    with contextlib.suppress(CheckpointError):  # a flip inside tensor data leaves a valid file
        reference.load(path)


@pytest.mark.parametrize("length", [2**62, 2**64 - 1, 10**9, 200])
def test_absurd_header_lengths_are_checked_against_the_file_size(tmp_path: Path, length: int) -> None:
    path = write(tmp_path / "absurd.bin", struct.pack("<Q", length) + b"{}" * 10)
    expect_checkpoint_error(path, "header length")


def test_header_over_the_limit_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reference import _safetensors

    monkeypatch.setattr(_safetensors, "MAX_HEADER_BYTES", 64)
    path = write(tmp_path / "big.bin", safetensors_bytes(b"{" + b" " * 100 + b"}"))
    expect_checkpoint_error(path, "limit")


CORRUPT_HEADERS: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "short": (b"\x05\x00\x00", "8-byte"),
    "zero length": (struct.pack("<Q", 0) + b"xx", "header length is 0"),
    "not json": (safetensors_bytes(b"{not json}"), "not valid JSON"),
    "not utf-8": (safetensors_bytes(b'{"\xff": 1}'), "not valid JSON"),
    "json list": (safetensors_bytes([1, 2]), "not a JSON object"),
    "NaN literal": (safetensors_bytes(b'{"a": NaN}'), "not valid JSON"),
    "duplicate key": (safetensors_bytes(b'{"a": {}, "a": {}}'), "duplicate"),
    "unknown dtype": (
        safetensors_bytes({"t": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
        "unsupported dtype",
    ),
    "bf16": (
        safetensors_bytes({"t": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2),
        "unsupported dtype",
    ),
    "negative shape": (
        safetensors_bytes({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
        "invalid shape",
    ),
    "bool shape": (
        safetensors_bytes({"t": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4),
        "invalid shape",
    ),
    "huge shape": (
        safetensors_bytes({"t": {"dtype": "F64", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, b"\0" * 8),
        "needs",
    ),
    "offsets out of range": (
        safetensors_bytes({"t": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}, b"\0" * 4),
        "ends at byte",
    ),
    "reversed offsets": (
        safetensors_bytes({"t": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}}, b"\0" * 4),
        "invalid data_offsets",
    ),
    "size mismatch": (
        safetensors_bytes({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "needs 8 bytes",
    ),
    "overlap": (
        safetensors_bytes(
            {
                "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
            },
            b"\0" * 6,
        ),
        "overlaps",
    ),
    "gap": (safetensors_bytes({"a": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}, b"\0" * 4), "gap"),
    "trailing bytes": (
        safetensors_bytes({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 5),
        "cover 2 bytes",
    ),
    "extra field": (
        safetensors_bytes({"a": {"dtype": "U8", "shape": [], "data_offsets": [0, 1], "x": 1}}, b"\0"),
        "exactly the fields",
    ),
    "bad metadata": (safetensors_bytes({"__metadata__": {"a": 1}}), "__metadata__"),
}


@pytest.mark.parametrize("name", list(CORRUPT_HEADERS))
def test_corrupted_headers(tmp_path: Path, name: str) -> None:
    data, fragment = CORRUPT_HEADERS[name]
    expect_checkpoint_error(write(tmp_path / "bad.bin", data), fragment)


def blockspec_file(document: object, arrays: int = 1) -> bytes:
    header: dict[str, object] = {"__metadata__": {"blockspec": json.dumps(document)}}
    for i in range(arrays):
        header[str(i)] = {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
    return safetensors_bytes(header, b"\0" * 4 * arrays)


def document(tree: object, storages: object = None, tensors: object = None) -> dict[str, object]:
    return {
        "version": 1,
        "storages": [{"device": "cpu"}] if storages is None else storages,
        "tensors": [{"storage": 0, "requires_grad": False, "parameter": False}] if tensors is None else tensors,
        "tree": tree,
    }


def nested(depth: int) -> list[object]:
    tree: list[object] = ["tensor", 0]
    for _ in range(depth):
        tree = ["list", [tree]]
    return tree


MALFORMED_METADATA: dict[str, bytes] = {
    "not json": safetensors_bytes({"__metadata__": {"blockspec": "{"}}),
    "wrong version": blockspec_file({**document(["tensor", 0]), "version": 99}),
    "unknown tag": blockspec_file(document(["pickle", "cos\nsystem\n"])),
    "tensor index out of range": blockspec_file(document(["tensor", 5])),
    "unreferenced tensor": blockspec_file(document(["none"])),
    "bad device": blockspec_file(document(["tensor", 0], storages=[{"device": "cuda:0"}])),
    "int requires grad": blockspec_file(
        document(["tensor", 0], tensors=[{"storage": 0, "requires_grad": 1, "parameter": False}])
    ),
    # int keys are the format's own (container-keys); a float, bool or list key is not
    "float dict key": blockspec_file(document(["dict", [[1.5, ["tensor", 0]]]])),
    "bool dict key": blockspec_file(document(["dict", [[True, ["tensor", 0]]]])),
    "list dict key": blockspec_file(document(["dict", [[[1], ["tensor", 0]]]])),
    "duplicate dict key": blockspec_file(document(["dict", [["a", ["tensor", 0]], ["a", ["none"]]]])),
    "bad float": blockspec_file(document(["list", [["tensor", 0], ["float", "0xZZ"]]])),
    "storage count": blockspec_file(document(["tensor", 0]), arrays=2),
    "deep nesting": blockspec_file(document(nested(150))),
}


@pytest.mark.parametrize("name", list(MALFORMED_METADATA))
def test_malformed_blockspec_metadata(tmp_path: Path, name: str) -> None:
    expect_checkpoint_error(write(tmp_path / "bad.bin", MALFORMED_METADATA[name]))


def test_deeply_nested_metadata_json_is_refused(tmp_path: Path) -> None:
    deep = '{"version": 1, "tree": ' + "[" * 100000 + "]" * 100000 + "}"
    data = safetensors_bytes({"__metadata__": {"blockspec": deep}})
    expect_checkpoint_error(write(tmp_path / "deep.bin", data), "not valid JSON")


def test_missing_device_index_names_map_location(tmp_path: Path) -> None:
    data = blockspec_file(document(["tensor", 0], storages=[{"device": "sim:9"}]))
    expect_checkpoint_error(write(tmp_path / "dev.bin", data), "sim:9", "map_location")
    loaded = reference.load(tmp_path / "dev.bin", map_location="cpu")
    assert loaded.device == reference.device("cpu"), f"observed {loaded.device}, expected cpu"


# --- pickles and PyTorch checkpoints ------------------------------------------------------


class Malicious:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": Malicious(marker)}, protocol=2)
    expect_checkpoint_error(write(tmp_path / "evil.pt", payload), "pickle")
    assert not marker.exists(), "the pickle's __reduce__ ran"


def test_pytorch_zip_checkpoint_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # the layout torch.save writes
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Malicious(marker)}, protocol=2))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
        archive.writestr("archive/version", "3\n")
    expect_checkpoint_error(write(tmp_path / "model.pt", buffer.getvalue()), "zip archive")
    assert not marker.exists(), "the archive's pickle ran"


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_pickles_of_every_protocol_are_refused(tmp_path: Path, protocol: int) -> None:
    expect_checkpoint_error(write(tmp_path / "p.bin", pickle.dumps({"a": [1.0, 2.0]}, protocol=protocol)))


def test_a_missing_path_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        reference.load(tmp_path / "nope")


def test_a_real_torch_checkpoint_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2, 2)}, path)
    expect_checkpoint_error(path, "zip archive")


def test_a_valid_header_length_starting_like_a_pickle_still_loads(tmp_path: Path) -> None:
    # 0x0280 = 640: the length field starts with the bytes 0x80 0x02, the
    # opening of a protocol-2 pickle. It must still load as safetensors.
    header = {"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    blob = json.dumps(header).encode()
    blob += b" " * (0x0280 - len(blob))
    path = write(tmp_path / "x.safetensors", safetensors_bytes(blob, b"\x07"))
    assert path.read_bytes()[:2] == b"\x80\x02"
    assert reference.load(path)["t"].tolist() == [7]


# --- structured fuzzing: well-framed files whose header says anything ----------------------------------

DTYPE_NAMES = ["F16", "BF16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "BOOL", "F8_E4M3", "C64", "U2", "", "f32"]
HUGE = [0, 1, 2, 3, 7, 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, -1, -(2**63)]
VALID_DTYPES = ["F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "BOOL"]
ITEMSIZE = {"F16": 2, "F32": 4, "F64": 8, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "U8": 1, "BOOL": 1}


def hostile_shapes() -> st.SearchStrategy[list[int]]:
    """Shapes a header may claim: small, absurd, empty yet huge (``[0, 2**63]``), or of too many dimensions."""
    dim = st.sampled_from(HUGE) | st.integers(0, 8)
    return st.one_of(
        st.lists(dim, max_size=4),
        st.lists(st.sampled_from([0, 1]) | dim, min_size=60, max_size=100),  # numpy holds at most 64 dimensions
        st.builds(
            lambda rest, at: [*rest[:at], 0, *rest[at:]], st.lists(dim, min_size=1, max_size=3), st.integers(0, 3)
        ),
    )


@st.composite
def fuzzed_entries(draw: st.DrawFn) -> dict[str, object]:
    """A header entry whose dtype, shape and offsets are drawn from valid and absurd values."""
    entry: dict[str, object] = {
        "dtype": draw(st.sampled_from(DTYPE_NAMES) | st.text(max_size=6), label="dtype"),
        "shape": draw(hostile_shapes(), label="shape"),
        "data_offsets": draw(
            st.lists(st.sampled_from(HUGE) | st.integers(0, 64), min_size=0, max_size=3), label="data_offsets"
        ),
    }
    if draw(st.booleans(), label="drop a field"):
        entry.pop(draw(st.sampled_from(sorted(entry)), label="dropped field"))
    return entry


@SETTINGS
@given(
    entries=st.dictionaries(st.text(min_size=1, max_size=4), fuzzed_entries(), max_size=3),
    payload=st.binary(max_size=96),
    length_delta=st.sampled_from([0, 0, 0, -1, 1, 2**20, 2**62]),
)
def test_fuzzed_headers_raise_only_checkpoint_error_without_big_allocations(
    entries: dict[str, object], payload: bytes, length_delta: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever the header claims (dtypes, shapes of 2**40, offsets past the end), the loader either
    loads what the file really holds or raises CheckpointError, and never allocates more than a few MB."""
    import tracemalloc

    header = json.dumps(entries).encode()
    data = struct.pack("<Q", max(0, len(header) + length_delta) % 2**64) + header + payload
    path = write(tmp_path_factory.mktemp("fuzz") / "header.safetensors", data)
    tracemalloc.start()
    try:
        with contextlib.suppress(CheckpointError):
            reference.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = 8 * 2**20
    assert peak < limit, (
        f"observed a peak allocation of {peak} bytes loading a {len(data)}-byte file; expected < {limit}"
    )


@st.composite
def well_framed_files(draw: st.DrawFn) -> bytes:
    """A file whose every offset agrees with its shapes and whose data section is exactly as long:
    only the shapes themselves are hostile, so the loader gets as far as allocating."""
    shapes = draw(st.lists(hostile_shapes(), min_size=1, max_size=3), label="shapes")
    header: dict[str, object] = {}
    position = 0
    for number, shape in enumerate(shapes):
        code = draw(st.sampled_from(VALID_DTYPES), label=f"dtype {number}")
        size = math.prod(shape) * ITEMSIZE[code] if all(n >= 0 for n in shape) else 0
        size = size if 0 <= size <= 4096 else 0
        header[str(number)] = {"dtype": code, "shape": shape, "data_offsets": [position, position + size]}
        position += size
    return safetensors_bytes(header, bytes(position))


@SETTINGS
@given(data=well_framed_files())
def test_well_framed_files_with_hostile_shapes_raise_only_checkpoint_error(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Shapes like ``[0, 2**63]``, ``[1] * 100`` or ``[0, 2**62, 2**62]`` with consistent offsets load
    (an empty or small tensor) or raise CheckpointError naming the file; nothing else escapes."""
    path = write(tmp_path_factory.mktemp("shapes") / "shapes.safetensors", data)
    try:
        loaded = reference.load(path)
    except CheckpointError as exc:
        assert str(path) in str(exc), f"observed {exc}; expected the message to name {path}"
    else:
        assert isinstance(loaded, dict), (
            f"observed {type(loaded).__name__} from a plain safetensors file; expected dict"
        )


def _with_device(tmp_path: Path, device: str) -> Path:
    """A valid blockspec file whose one storage claims ``device``."""
    source = tmp_path / "one.safetensors"
    reference.save({"x": reference.arange(3)}, source)
    raw = source.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + length])
    document = json.loads(header["__metadata__"]["blockspec"])
    document["storages"][0]["device"] = device
    header["__metadata__"]["blockspec"] = json.dumps(document)
    return write(tmp_path / "device.safetensors", safetensors_bytes(header, raw[8 + length :]))


DEVICE_NAMES = st.one_of(
    st.builds(lambda n: "sim:" + "7" * n, st.integers(1, 6000)),
    st.sampled_from(["sim:" + "9" * 5000, "sim:-1", "sim:01", "cuda:0", "CPU", "sim:1:2", "sim:\n", "cpu:0"]),
    st.text(max_size=12),
)


@SETTINGS
@given(data=st.data())
def test_any_saved_device_name_raises_only_checkpoint_error(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    device = data.draw(DEVICE_NAMES, label="saved device")
    path = _with_device(tmp_path_factory.mktemp("device"), device)
    try:
        reference.load(path)
    except CheckpointError as exc:
        assert str(path) in str(exc), f"observed {exc}; expected the message to name {path}"


@pytest.mark.parametrize(
    "shape", [[0, 2**63], [1] * 100, [0, 2**62, 2**62], [0] * 65], ids=["0-2^63", "100-dims", "0-2^62-2^62", "65-zeros"]
)
def test_shapes_numpy_cannot_hold_are_checkpoint_errors(tmp_path: Path, shape: list[int]) -> None:
    path = write(
        tmp_path / "s.safetensors", safetensors_bytes({"t": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    )
    expect_checkpoint_error(path, "tensor 't'")


def test_a_device_index_of_5000_digits_is_a_checkpoint_error(tmp_path: Path) -> None:
    expect_checkpoint_error(_with_device(tmp_path, "sim:" + "9" * 5000), "unknown device")
