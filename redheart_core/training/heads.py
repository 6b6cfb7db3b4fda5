"""The trainable heads: a small network on the shared embedder's vectors, and the
LightningModule that trains it.

The embedder stays frozen by default: it is shared by every analyzer, so tuning it for one
head would change the vectors all the others read. Fine-tuning it too (``encoder``) yields a
new embedder, saved beside the head, that the config must then name as ``embedding.model``
for every analyzer. The head is what the analyzer loads at inference
(:func:`redheart_core.training.checkpoints.load_head`); the LightningModule only adds the
loss, the metrics and the checkpoint metadata around it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F

from ..model.encoder import SentenceEncoder
from .head_net import HeadNet, head_metadata, head_shape
from .metrics import accuracy, macro_f1, mean_absolute_error
from .targets import HeadTarget, head_target


class HeadModule(L.LightningModule):
    """Trains one head on (vector, target) batches from :class:`~.data.HeadDataModule`, or on
    (text, target) batches through ``encoder`` when the embedder is trained too.

    The checkpoints Lightning writes carry ``redheart_head`` metadata (kind, label order,
    embedder id, network shape), so :func:`~.checkpoints.load_head` can read them as they are.
    """

    def __init__(self, kind: str, dim: int, embedder_id: str, *, hidden: int = 256,
                 dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-4,
                 encoder: "SentenceEncoder | None" = None, encoder_lr: float = 2e-5):
        super().__init__()
        self.save_hyperparameters(ignore=["encoder"])
        self.target = head_target(kind)
        self.embedder_id = embedder_id
        self.sentence_encoder = encoder
        self.encoder = encoder.model if encoder is not None else None
        self.net = HeadNet(head_shape(self.target, dim, hidden, dropout))
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.val_metrics: dict[str, float] = {}

    def forward(self, inputs: torch.Tensor | list[str]) -> torch.Tensor:
        """Head outputs for embedder vectors, or for texts when the embedder is trained too."""
        return self.net(self.embed(inputs) if self.encoder is not None else inputs)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Sentence vectors from the (trainable) encoder, pooled as the embedder pools them."""
        return self.sentence_encoder.vectors(self.sentence_encoder.features(texts))

    def loss(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.target.classifies:
            return F.cross_entropy(out, targets)
        return F.mse_loss(out, targets)

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self.loss(self(inputs), targets)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(targets))
        return loss

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        out = self(inputs)
        self.log("val_loss", self.loss(out, targets), prog_bar=True, batch_size=len(targets))
        self._val_outputs.append((out.detach().cpu(), targets.detach().cpu()))

    def on_validation_epoch_start(self) -> None:
        self._val_outputs.clear()

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        out = torch.cat([o for o, _ in self._val_outputs])
        targets = torch.cat([t for _, t in self._val_outputs])
        self.val_metrics = evaluate(self.target, out, targets)
        for name, value in self.val_metrics.items():
            self.log(f"val_{name}", value, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = [{"params": self.net.parameters(), "lr": self.hparams.lr}]
        if self.encoder is not None:
            groups.append({"params": self.encoder.parameters(), "lr": self.hparams.encoder_lr})
        return torch.optim.AdamW(groups, weight_decay=self.hparams.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["redheart_head"] = head_metadata(self.target, self.embedder_id, self.net.shape,
                                                    self.val_metrics)


def evaluate(target: HeadTarget, out: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """The head's validation metrics from its outputs and the true targets."""
    if target.classifies:
        predicted = out.argmax(dim=-1)
        return {"accuracy": accuracy(predicted, targets),
                "macro_f1": macro_f1(predicted, targets, target.n_outputs)}
    return {"mae": mean_absolute_error(out, targets)}
