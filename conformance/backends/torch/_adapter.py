"""The PyTorch adapter: thin, because the protocol follows PyTorch's own vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from conformance.backends._torchlike import PYTORCH_CAPABILITIES, TorchLikeBackend, attribute_block_class
from conformance.backends.torch import blocks

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}

AttributeBlock = attribute_block_class(nn.Module)


class TorchBackend(TorchLikeBackend):
    """PyTorch, checked against the spec through its public API."""

    name = "torch"
    capabilities = PYTORCH_CAPABILITIES
    # nn.Linear and its peers are built and run in half precision on every device, the CPU included
    float_dtypes = ("float32", "float64", "float16", "bfloat16")
    dtypes = tuple(_DTYPES)
    fw = torch
    nn = nn
    blocks = blocks
    linear_class: Any = nn.Linear
    lazy_linear_class: Any = nn.LazyLinear
    sequential_class: Any = nn.Sequential
    block_class: Any = AttributeBlock
    load_errors = (RuntimeError,)

    def version(self) -> str:
        return str(torch.__version__)

    def environment(self) -> dict[str, str]:
        env = {"torch_cuda": str(torch.version.cuda), "cuda_devices": str(torch.cuda.device_count())}
        if torch.cuda.is_available():
            env["cuda_device_name"] = torch.cuda.get_device_name(0)
            env["tf32_matmul"] = str(torch.backends.cuda.matmul.allow_tf32)
        return env

    def tensor(self, array: np.ndarray, device: str | None = None, dtype: str | None = None) -> torch.Tensor:
        t = torch.tensor(array)  # the factory, so the default device applies when none is given
        if dtype is not None:
            t = t.to(_DTYPES[dtype])
        return t if device is None else t.to(device)

    def to_numpy(self, tensor: torch.Tensor) -> np.ndarray:
        t = tensor.detach().cpu()
        return (t.float() if t.dtype is torch.bfloat16 else t).numpy()

    def bits(self, tensor: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
        t = tensor.detach().cpu().contiguous()
        raw = t.view(torch.int16) if t.dtype is torch.bfloat16 else t
        return _NAMES[t.dtype], tuple(t.shape), raw.numpy().tobytes()

    def strided_view(self, tensor: torch.Tensor, layout: str) -> torch.Tensor:
        if layout == "transposed":  # torch's .T reverses the dimensions of a matrix only
            return tensor.permute(*reversed(range(tensor.dim())))
        return tensor[::2] if layout == "step" else tensor.narrow(0, 1, tensor.shape[0] - 1)

    def accelerators(self) -> list[str]:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def device_count(self) -> int:
        return torch.cuda.device_count()

    def accelerator_type(self) -> str:
        return "cuda"

    def load(self, path: Path, map_location: str | None = None) -> Any:
        # weights_only: a checkpoint is data; never unpickle arbitrary objects.
        return torch.load(path, map_location=map_location, weights_only=True)

    def write_safetensors(self, module: Any, path: Path) -> None:
        # What PyTorch users call: it keeps one name per shared tensor and records the others as aliases.
        safetensors.torch.save_model(module, str(path))

    def read_safetensors(self, path: Path) -> dict[str, torch.Tensor]:
        return safetensors.torch.load_file(str(path))

    def _dtype(self, name: str) -> torch.dtype:
        return _DTYPES[name]

    def _like(self, array: np.ndarray, tensor: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(array, dtype=tensor.dtype, device=tensor.device)
