"""A head's network and its checkpoint metadata, in plain torch: what inference loads
(:func:`~.checkpoints.load_head`) without importing Lightning, which only training needs
(:class:`~.heads.HeadModule`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
from torch import nn

from .targets import HeadTarget

#: the ``redheart_head`` metadata's format name and version (see :mod:`.checkpoints`)
FORMAT = "redheart-head"
FORMAT_VERSION = 1


def head_metadata(target: HeadTarget, embedder_id: str, shape: HeadShape,
                  metrics: Mapping[str, float] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": target.kind,
        "labels": list(target.labels),
        "embedder_id": embedder_id,
        "shape": shape.to_dict(),
        "metrics": dict(metrics or {}),
    }


@dataclass(frozen=True)
class HeadShape:
    """What is needed to rebuild a head's network from its weights."""

    dim: int
    n_outputs: int
    hidden: int = 256
    dropout: float = 0.1
    squash: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HeadNet(nn.Module):
    """Embedder vectors ``(n, dim)`` -> logits (classifier) or values in 0..1 (``squash``)."""

    def __init__(self, shape: HeadShape):
        super().__init__()
        self.shape = shape
        self.layers = nn.Sequential(
            nn.LayerNorm(shape.dim),
            nn.Linear(shape.dim, shape.hidden),
            nn.GELU(),
            nn.Dropout(shape.dropout),
            nn.Linear(shape.hidden, shape.n_outputs),
        )

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        out = self.layers(vectors)
        return torch.sigmoid(out) if self.shape.squash else out


def head_shape(target: HeadTarget, dim: int, hidden: int = 256, dropout: float = 0.1) -> HeadShape:
    return HeadShape(dim=dim, n_outputs=target.n_outputs, hidden=hidden, dropout=dropout,
                     squash=not target.classifies)
