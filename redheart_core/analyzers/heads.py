"""Trained heads (``redheart train``): loaded through the training package, run on vectors.

A head maps the embedder's native vectors to an analyzer's outputs (emotion logits, the 10
Bentham values, a regret value). Loading checks that it was trained on the configured embedder
and label order (:func:`redheart_core.training.checkpoints.load_head`); the module is handed to
the memory manager, which may move it to the GPU, so inputs follow the module's device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .base import register_module

if TYPE_CHECKING:
    import torch

    from ..memory.manager import UnifiedMemoryManager


def load(kind: str, path: str, embedder_id: str, memory: "UnifiedMemoryManager | None" = None,
         phase: str = "red_heart") -> "torch.nn.Module":
    """The ``kind`` head at ``path``, registered with the memory manager."""
    from ..training.checkpoints import load_head

    module = load_head(str(path), kind, embedder_id)
    register_module(memory, f"{kind}_head", module, phase)
    return module


def run(module: Any, vectors: np.ndarray) -> np.ndarray:
    """The head's outputs for ``(n, dim)`` vectors, as float64 ``(n, k)``; a vector's outputs
    do not depend on the batch it comes in (:func:`redheart_core.model.encoder.batch_invariant`)."""
    import torch

    from ..model.encoder import batch_invariant

    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    vectors = np.asarray(vectors, dtype=np.float32)

    def forward(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.as_tensor(vectors[rows], device=device))
        return out.float().cpu().numpy().astype(np.float64).reshape(len(rows), -1)

    return np.concatenate([out for _, out in batch_invariant(forward, len(vectors), device.type)])


class OptionalHead:
    """For analyzers whose ``options.checkpoint`` swaps a trained head in for the built-in
    computation: loads it, hands it to the memory manager and names it in provenance."""

    head_kind: str

    def _load_head(self, memory: "UnifiedMemoryManager | None") -> None:
        checkpoint = self.options.checkpoint
        self.head = load(self.head_kind, str(checkpoint), self.embedder.model_id, memory) if checkpoint else None

    def modules(self) -> dict[str, Any]:
        return {f"{self.head_kind}_head": self.head} if self.head is not None else {}

    def provenance(self) -> dict[str, str]:
        roles = {"embedder": self.embedder.model_id}
        if self.head is not None:
            roles[f"{self.head_kind}_head"] = str(self.options.checkpoint)
        return roles

