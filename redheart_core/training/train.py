"""Training one head end to end: data, Trainer (checkpointing, early stopping, progress bar,
seed), and the exported checkpoint the analyzer loads."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from .targets import head_target


@dataclass
class TrainOptions:
    """Everything ``redheart train`` exposes beyond the config."""

    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    hidden: int = 256
    dropout: float = 0.1
    patience: int = 5
    val_fraction: float = 0.2
    accelerator: str = "cpu"
    progress: bool = True
    finetune_embedder: bool = False


@dataclass
class TrainReport:
    """The exported checkpoint and the best model's validation metrics."""

    kind: str
    checkpoint: Path
    embedder_id: str
    metrics: dict[str, float]
    epochs: int
    train_records: int
    val_records: int
    lightning_checkpoints: Path
    embedder_dir: Path | None = None


def train_head(config: DictConfig, kind: str, data: str | Path, val: str | Path | None,
               out: str | Path, options: TrainOptions | None = None) -> TrainReport:
    """Train the ``kind`` head on ``data`` and write its checkpoint to ``out``.

    The best epoch by validation loss is kept (Lightning's ``.ckpt`` files go to
    ``<out stem>-checkpoints/`` beside ``out``) and exported with :func:`save_head`. With
    ``finetune_embedder`` the tuned embedder is saved to ``<out stem>-embedder/`` and the head
    is recorded as trained on that directory.
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from ..analyzers.embedder import embedder_from_config
    from .checkpoints import save_head
    from .data import HeadDataModule
    from .heads import HeadModule
    from .trainers import make_trainer

    options = options or TrainOptions()
    target = head_target(kind)
    out = Path(out)
    L.seed_everything(int(config.seed), workers=True, verbose=False)
    data_module = HeadDataModule(target, data, val, encode=None, val_fraction=options.val_fraction,
                                 batch_size=options.batch_size, seed=int(config.seed))
    data_module.load_records()  # a bad file fails before the embedder loads
    embedder = embedder_from_config(config.embedding)
    embedder_dir = out.with_name(f"{out.stem}-embedder")
    if options.finetune_embedder:
        from ..model.encoder import SentenceEncoder

        encoder = SentenceEncoder(embedder.path)
        encoder.model.train()
        embedder_id = str(embedder_dir.resolve())
    else:
        data_module.encode = embedder.encode
        encoder, embedder_id = None, embedder.model_id
    module = HeadModule(kind, embedder.dim, embedder_id, hidden=options.hidden,
                        dropout=options.dropout, lr=options.lr, encoder=encoder)
    ckpt_dir = out.with_name(f"{out.stem}-checkpoints")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    best = ModelCheckpoint(dirpath=ckpt_dir, filename=f"{kind}-{{epoch:02d}}-{{val_loss:.4f}}",
                           monitor="val_loss", mode="min", save_top_k=1)
    early_stop = EarlyStopping(monitor="val_loss", mode="min", patience=options.patience)
    trainer = make_trainer(progress=options.progress, callbacks=[best, early_stop],
                           max_epochs=options.max_epochs, accelerator=options.accelerator,
                           devices=1, deterministic=True, log_every_n_steps=1,
                           num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data_module)
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    module.cpu()
    make_trainer(progress=False, accelerator="cpu", devices=1).validate(
        module, datamodule=data_module, verbose=False)
    save_head(out, module)
    if encoder is not None:
        encoder.save(str(embedder_dir))
    return TrainReport(kind=kind, checkpoint=out, embedder_id=embedder_id,
                       metrics=dict(module.val_metrics), epochs=trainer.current_epoch,
                       train_records=len(data_module.train_records),
                       val_records=len(data_module.val_records), lightning_checkpoints=ckpt_dir,
                       embedder_dir=embedder_dir if encoder is not None else None)
