"""Real modules nobody here wrote: torch.nn built-ins, a ResNet-18 as torchvision builds it, transformers
models from tiny configs (built from config objects: no download), timm blocks where timm imports.

Each :class:`Real` says which clauses it fails and why (a true departure, with where it lies); every other
clause must come out pass, not-applicable or skipped. A false alarm on one of these is a checker bug.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn


@dataclass(frozen=True)
class Real:
    name: str
    factory: Callable[[], nn.Module]
    shapes: tuple[tuple[int, ...], ...] = ()
    inputs: Any = None
    #: clause -> why it fails (a true departure of the module, or a SHOULD it breaks by design).
    fails: dict[str, str] = field(default_factory=dict)
    #: The package the factory needs (the test skips with the reason when it does not import).
    needs: str = ""


def tokens(vocab: int, length: int, low: int = 0) -> Any:
    """Integer token ids of shape (batch, length), batch 1-4, from a drawn seed."""

    def make(batch: int, seed: int) -> torch.Tensor:
        return torch.randint(low, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))

    return st.builds(make, st.integers(1, 4), st.integers(0, 2**16))


# --- torch.nn built-ins ------------------------------------------------------------------------------


def embedding_padding() -> nn.Module:
    return nn.Embedding(10, 4, padding_idx=0)


def embedding_bag_padding() -> nn.Module:
    return nn.EmbeddingBag(10, 4, mode="sum", padding_idx=0)


def conv_block() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2))


def transformer_layer() -> nn.Module:
    return nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)


def gru() -> nn.Module:
    return nn.GRU(5, 7, num_layers=2, batch_first=True)


def norms() -> nn.Module:
    return nn.Sequential(nn.Conv2d(4, 8, 1), nn.GroupNorm(2, 8), nn.PReLU(), nn.InstanceNorm2d(8, affine=True))


# --- a ResNet-18 as torchvision builds it (torchvision.models.resnet18, its BasicBlock and layout) ------


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision's resnet18 layout: 11.2 M parameters, 62 tensors, 17 ReLUs, a max-pool."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers: list[nn.Module] = []
        inplanes = 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- transformers, tiny configs (no download) --------------------------------------------------------

VOCAB, LENGTH = 99, 7


def bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
        max_position_embeddings=32,
    )  # fmt: skip
    return BertModel(config)


def llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=24, max_position_embeddings=32, use_cache=False,
    )  # fmt: skip
    return LlamaModel(config)


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    return GPT2Model(GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=4, n_positions=32, use_cache=False))


def t5_encoder() -> nn.Module:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=VOCAB, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=4, use_cache=False)
    return T5EncoderModel(config)


# --- timm (needs torchvision; skipped with the reason where it does not import) -----------------------


def timm_resnet10t() -> nn.Module:
    import timm

    return timm.create_model("resnet10t", pretrained=False, num_classes=10)  # type: ignore[no-any-return]


#: torch.nn built-ins with their constructor arguments: their factories take device=, so MOD-META-INIT applies.
WITH_DEVICE: tuple[Real, ...] = (
    Real("nn.Linear(6, 4)", functools.partial(nn.Linear, 6, 4), ((4, 6),)),
    Real("nn.Conv2d(3, 4, 3)", functools.partial(nn.Conv2d, 3, 4, 3), ((2, 3, 6, 6),)),
    Real("nn.BatchNorm2d(3)", functools.partial(nn.BatchNorm2d, 3), ((2, 3, 4, 4),)),
    Real("nn.LayerNorm(6)", functools.partial(nn.LayerNorm, 6), ((4, 6),)),
    Real(
        "nn.Embedding(10, 4, padding_idx=0)", functools.partial(nn.Embedding, 10, 4, padding_idx=0), (), tokens(10, 5)
    ),
    Real(
        "nn.TransformerEncoderLayer(8, 2, 16)",
        functools.partial(nn.TransformerEncoderLayer, 8, 2, 16, batch_first=True),
        ((2, 5, 8),),
    ),
    Real("nn.GRU(4, 5)", functools.partial(nn.GRU, 4, 5, batch_first=True), ((3, 4, 4),)),
    Real("nn.GroupNorm(2, 4)", functools.partial(nn.GroupNorm, 2, 4), ((2, 4, 3, 3),)),
)

FLOAT32_INSIDE = (
    "a true departure: the model computes in float32 inside a .double() model ({where} cast to float32 "
    "explicitly), so float64 is only float32-accurate there"
)

REAL: tuple[Real, ...] = (
    Real("nn.Embedding(padding_idx=0)", embedding_padding, inputs=tokens(10, 5)),
    Real("nn.EmbeddingBag(padding_idx=0)", embedding_bag_padding, inputs=tokens(10, 5)),
    Real("Conv2d, BatchNorm2d, ReLU(inplace), MaxPool2d", conv_block, ((2, 3, 8, 8),)),
    Real("GroupNorm, PReLU, InstanceNorm2d", norms, ((2, 4, 6, 6),)),
    Real("TransformerEncoderLayer", transformer_layer, ((2, 5, 16),)),
    Real("GRU, two layers", gru, ((3, 4, 5),)),
    Real("ResNet-18 (torchvision's layout)", ResNet18, ((2, 3, 32, 32),)),
    Real("transformers BertModel", bert, inputs=tokens(VOCAB, LENGTH), needs="transformers"),
    Real("transformers GPT2Model", gpt2, inputs=tokens(VOCAB, LENGTH), needs="transformers"),
    Real(
        "transformers LlamaModel",
        llama,
        inputs=tokens(VOCAB, LENGTH),
        fails={
            "MOD-DTYPE-MOVE": FLOAT32_INSIDE.format(where="RMSNorm and the rotary embedding"),
            "MOD-HELPERS-REGISTERED": "SHOULD: self_attn._kernel_funcs, a plain dict holding a stateless helper",
        },
        needs="transformers",
    ),
    Real(
        "transformers T5EncoderModel",
        t5_encoder,
        inputs=tokens(VOCAB, LENGTH),
        fails={"MOD-DTYPE-MOVE": FLOAT32_INSIDE.format(where="T5LayerNorm")},
        needs="transformers",
    ),
    Real("timm resnet10t", timm_resnet10t, ((2, 3, 32, 32),), needs="timm"),
    *WITH_DEVICE,
)
