"""Mutant writers for the INTEROP-* clauses: PyTorch with one thing wrong in its safetensors path.

Each is checked as the writer of a pair with PyTorch as reader
(``tests.mutants.interop:NarrowsToBfloat16->torch``) and must fail exactly its clause.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import MappingProxyType
from typing import Any

import safetensors.torch
import torch

from conformance.backends.torch._adapter import TorchBackend


class NarrowsToBfloat16(TorchBackend):
    """Writes every float tensor as bfloat16 (INTEROP-DTYPE-BITS)."""

    def write_safetensors(self, module: Any, path: Path) -> None:
        safetensors.torch.save_model(copy.deepcopy(module).to(torch.bfloat16), str(path))


class DropsLinearTranspose(TorchBackend):
    """Declares Linear kernels (in, out), as Flax does, yet holds and writes them (out, in) (INTEROP-LAYOUT)."""

    weight_layouts = MappingProxyType({"Linear": "in_out"})

    def write_safetensors(self, module: Any, path: Path) -> None:
        safetensors.torch.save_model(module, str(path))


class SavesTieTwice(TorchBackend):
    """Writes a copy of a shared tensor under each of its names, no alias recorded (INTEROP-TIES)."""

    def write_safetensors(self, module: Any, path: Path) -> None:
        safetensors.torch.save_file({k: v.detach().clone() for k, v in module.state_dict().items()}, str(path))


class RenamesAKey(TorchBackend):
    """Writes the last bias ``N.bias`` as ``N.b``, declaring no such naming (INTEROP-KEYS)."""

    def write_safetensors(self, module: Any, path: Path) -> None:
        safetensors.torch.save_model(module, str(path))
        tensors = safetensors.torch.load_file(str(path))
        with safetensors.safe_open(str(path), "pt") as handle:
            metadata = handle.metadata()
        biases = [k for k in tensors if k.endswith("bias") and k not in (metadata or {}).values()]
        if biases:  # a net of ReLUs alone has nothing to rename
            tensors[biases[-1][: -len("bias")] + "b"] = tensors.pop(biases[-1])
            safetensors.torch.save_file(tensors, str(path), metadata=metadata)
