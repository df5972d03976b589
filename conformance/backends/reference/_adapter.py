"""The reference adapter: the thinnest, because the reference is written to the chapter's API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

import reference
from conformance._version import tool_version
from conformance.backends._torchlike import PYTORCH_CAPABILITIES, TorchLikeBackend, attribute_block_class
from reference import chapter, nn, sim
from reference.errors import FrameworkError

AttributeBlock = attribute_block_class(nn.Module)


class ReferenceBackend(TorchLikeBackend):
    """blockspec's NumPy reference framework, with simulated accelerators ``sim:0 ... sim:N-1``."""

    name = "reference"
    capabilities = PYTORCH_CAPABILITIES | {"device-count-control"}  # simulated devices, any count
    float_dtypes = ("float32", "float64", "float16")  # its modules are built and run in float16 too
    dtypes = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
    fw = reference
    nn = nn
    blocks = chapter
    linear_class: Any = nn.Linear
    lazy_linear_class: Any = nn.LazyLinear
    sequential_class: Any = nn.Sequential
    block_class: Any = AttributeBlock
    load_errors = (FrameworkError,)

    def version(self) -> str:
        return tool_version()  # the reference ships with blockspec, installed or run from a checkout

    def environment(self) -> dict[str, str]:
        return {"numpy": np.__version__, "simulated_devices": str(sim.device_count())}

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> Any:
        return reference.tensor(array, dtype=None if dtype is None else np.dtype(dtype), device=device)

    def bits(self, tensor: Any) -> tuple[str, tuple[int, ...], bytes]:
        host = np.ascontiguousarray(tensor.detach().cpu().numpy())
        return str(host.dtype), tuple(host.shape), host.tobytes()

    def accelerators(self) -> list[str]:
        return [f"sim:{i}" for i in range(sim.device_count())]

    def device_count(self) -> int:
        return sim.device_count()

    def accelerator_type(self) -> str:
        return "sim"

    def set_device_count(self, count: int) -> None:
        sim.set_device_count(count)

    def load(self, path: Path, map_location: str | None = None) -> Any:
        return reference.load(path, map_location=map_location)

    def write_safetensors(self, module: Any, path: Path) -> None:
        # reference.save writes safetensors too, but names its entries 0, 1, ... (the structure is in its
        # metadata), so no reference writer keeps state-dict names: the arrays go through safetensors.numpy,
        # each tensor once, a tie's other names recorded as aliases of its first path in state-dict order
        # (safetensors.torch.save_model keeps the alphabetically first: 10.weight before 2.weight). Readers
        # take the aliases from the metadata, so either choice reads back the same.
        arrays: dict[str, np.ndarray] = {}
        aliases: dict[str, str] = {}
        first: dict[int, str] = {}
        for key, tensor in module.state_dict(keep_vars=True).items():
            if id(tensor) in first:
                aliases[key] = first[id(tensor)]
                continue
            first[id(tensor)] = key
            arrays[key] = np.ascontiguousarray(tensor.detach().cpu().numpy())
        safetensors.numpy.save_file(arrays, str(path), metadata=aliases or None)

    def read_safetensors(self, path: Path) -> dict[str, Any]:
        return {key: reference.tensor(array) for key, array in safetensors.numpy.load_file(str(path)).items()}

    def _dtype(self, name: str) -> np.dtype[Any]:
        return np.dtype(name)

    def _like(self, array: np.ndarray, tensor: Any) -> Any:
        return reference.tensor(np.asarray(array, dtype=tensor.dtype), device=tensor.device)
