"""Training the Red Heart model with Lightning: one encoder, one head per task, one artifact.

Batches are task-homogeneous and interleaved: every epoch sees all of the primary tasks'
training examples (acceptability, utility, VAD), the small emotion set several times, and a
sample of each auxiliary task (deontology, justice, virtue), in a seeded random order. The
losses: binary cross-entropy, a Bradley-Terry ranking loss on utility pairs (one score per
text, so a text can be scored alone), mean squared error on standardised VAD, cross-entropy on
the emotions. The dev score (the mean of the four shipped heads' figures) is checked a few times
per epoch; what is exported (:mod:`.artifact`), with a calibration fitted on dev, is the best
check or the uniform mean of the last few checks' weights, whichever scores better on dev
(averaging nearby checks often smooths a fit that one check overdoes).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import lightning as L
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from . import metrics
from .artifact import ModelMeta, base_digest, save_model
from .corpus import Example, TaskData
from .encoder import PoolingRule, load_transformer, pool, read_pooling_rule
from .heads import Calibration, HeadSet
from .tasks import SHIPPED, TASKS, Objective

#: weight of each task's loss
LOSS_WEIGHTS = {"acceptability": 1.0, "utility": 1.0, "vad": 1.0, "emotion": 0.5,
                "deontology": 0.5, "justice": 0.5, "virtue": 0.5}
#: dev examples per auxiliary task scored each epoch (they only watch for harm)
AUX_DEV = 1000


@dataclass
class ModelTrainOptions:
    """What ``redheart train model`` exposes."""

    epochs: int = 2
    evals_per_epoch: int = 2    # dev checks per epoch; the best one is exported...
    average_last: int = 3       # ...or the mean of this many last checks, if it scores better
    batch_size: int = 32
    lr: float = 4e-5            # the encoder's layers
    head_lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: float = 0.06        # share of steps with a rising learning rate
    tuned_layers: int = 6       # top transformer layers trained; the embeddings stay frozen
    max_length: int = 128
    hidden: int = 256
    dropout: float = 0.1
    aux_per_epoch: int = 3000   # examples of each auxiliary task per epoch
    #: passes over a task's training set per epoch (the others: one)
    repeats: dict[str, int] = field(default_factory=lambda: {"acceptability": 3, "vad": 2, "emotion": 4})
    limit: int | None = None    # cap on training examples per task (a quick, tiny run)
    debias: float = 0.0         # weight of the frozen linear probe in the utility loss (0: off)
    accelerator: str = "cpu"
    progress: bool = True
    seed: int = 0
    tasks: tuple[str, ...] = tuple(TASKS)


@dataclass
class TaskBatch:
    """One batch of a single task: tokenised inputs and targets."""

    task: str
    features: dict[str, torch.Tensor]
    targets: torch.Tensor


class Examples(Dataset):
    """All tasks' examples in one indexable list of ``(task, example)``."""

    def __init__(self, by_task: dict[str, list[Example]]):
        self.items = [(task, ex) for task, examples in by_task.items() for ex in examples]
        self.ranges: dict[str, range] = {}
        start = 0
        for task, examples in by_task.items():
            self.ranges[task] = range(start, start + len(examples))
            start += len(examples)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[str, Example]:
        return self.items[index]


class TaskBatchSampler(Sampler[list[int]]):
    """Task-homogeneous batches in a seeded order that changes every epoch."""

    def __init__(self, ranges: dict[str, range], options: ModelTrainOptions, shuffle: bool = True):
        self.ranges = ranges
        self.options = options
        self.shuffle = shuffle
        self.epoch = 0

    def _per_epoch(self, task: str, rng: random.Random) -> list[int]:
        indices = list(self.ranges[task])
        if not self.shuffle:
            return indices
        rng.shuffle(indices)
        for _ in range(self.options.repeats.get(task, 1) - 1):
            again = list(self.ranges[task])
            rng.shuffle(again)
            indices += again
        if not TASKS[task].ships:
            indices = indices[:self.options.aux_per_epoch]
        return indices

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.options.seed * 1000 + self.epoch)
        out = []
        for task in self.ranges:
            size = self.options.batch_size // 2 if TASKS[task].objective is Objective.PAIRWISE \
                else self.options.batch_size
            indices = self._per_epoch(task, rng)
            out += [indices[i:i + size] for i in range(0, len(indices), size)]
        if self.shuffle:
            rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        return len(self.batches())


class Collator:
    """Tokenises a batch the way the encoder reads at inference (one window, padded)."""

    def __init__(self, tokenizer: Any, max_length: int, vad_mean: np.ndarray, vad_std: np.ndarray):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.vad_mean = vad_mean
        self.vad_std = vad_std

    def __call__(self, items: Sequence[tuple[str, Example]]) -> TaskBatch:
        task = items[0][0]
        examples = [ex for _, ex in items]
        objective = TASKS[task].objective
        if objective is Objective.PAIRWISE:
            texts = [ex.text for ex in examples] + [ex.worse for ex in examples]
            pairs = None
        else:
            texts = [ex.text for ex in examples]
            pairs = [ex.pair for ex in examples] if examples[0].pair is not None else None
        features = dict(self.tokenizer(texts, pairs, padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt"))
        if objective is Objective.CLASSES:
            targets = torch.tensor([int(ex.target[0]) for ex in examples], dtype=torch.long)
        elif objective is Objective.REGRESSION:
            raw = np.array([ex.target for ex in examples], dtype=np.float32)
            targets = torch.as_tensor((raw - self.vad_mean) / self.vad_std)
        elif objective is Objective.BINARY:
            targets = torch.tensor([ex.target[0] for ex in examples], dtype=torch.float32)
        else:  # a utility pair's target is its bias-only margin (0 without debiasing)
            targets = torch.tensor([ex.target[0] if ex.target else 0.0 for ex in examples],
                                   dtype=torch.float32)
        return TaskBatch(task, features, targets)


class RedHeartModule(L.LightningModule):
    """The encoder and every task's head; the loss, the dev figures and the optimiser."""

    def __init__(self, base_path: str, options: ModelTrainOptions, vad_mean: np.ndarray,
                 vad_std: np.ndarray):
        super().__init__()
        self.options = options
        self.rule: PoolingRule = read_pooling_rule(base_path)
        self.tokenizer, self.encoder = load_transformer(base_path)
        self.base_state = {k: v.detach().clone() for k, v in self.encoder.state_dict().items()}
        self.tuned = self._freeze(options.tuned_layers)
        self.encoder.train()
        self.heads = HeadSet(self.encoder.config.hidden_size, options.tasks, options.hidden,
                             options.dropout)
        self.vad_mean = np.asarray(vad_mean, dtype=np.float32)
        self.vad_std = np.asarray(vad_std, dtype=np.float32)
        self._dev: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.dev_metrics: dict[str, float] = {}

    def _freeze(self, tuned_layers: int) -> list[str]:
        """Freeze all but the top ``tuned_layers`` layers; the names of what stays trainable."""
        layers = self.encoder.encoder.layer
        keep = {f"encoder.layer.{i}." for i in range(len(layers) - tuned_layers, len(layers))}
        tuned = []
        for name, param in self.encoder.named_parameters():
            train = any(name.startswith(prefix) for prefix in keep)
            param.requires_grad_(train)
            if train:
                tuned.append(name)
        return tuned

    def vectors(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        states = self.encoder(**features).last_hidden_state
        return pool(states, features["attention_mask"], self.rule)

    def forward(self, batch: TaskBatch) -> torch.Tensor:
        return self.heads(self.vectors(batch.features), [batch.task])[batch.task]

    def loss(self, batch: TaskBatch, out: torch.Tensor) -> torch.Tensor:
        objective = TASKS[batch.task].objective
        if objective is Objective.PAIRWISE:
            better, worse = out[:, 0].chunk(2)
            return F.softplus(worse - better - self.options.debias * batch.targets).mean()
        if objective is Objective.BINARY:
            return F.binary_cross_entropy_with_logits(out[:, 0], batch.targets)
        if objective is Objective.REGRESSION:
            return F.mse_loss(out, batch.targets)
        return F.cross_entropy(out, batch.targets)

    def training_step(self, batch: TaskBatch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch, self(batch))
        self.log(f"loss_{batch.task}", loss, batch_size=len(batch.targets))
        return LOSS_WEIGHTS[batch.task] * loss

    def on_validation_epoch_start(self) -> None:
        self._dev = {}

    def validation_step(self, batch: TaskBatch, batch_idx: int) -> None:
        out = self(batch).detach().float().cpu()
        if TASKS[batch.task].objective is Objective.PAIRWISE:  # one row per pair: better, worse
            out = torch.stack(out[:, 0].chunk(2), dim=1)
        self._dev.setdefault(batch.task, []).append((out, batch.targets.detach().cpu()))

    def on_validation_epoch_end(self) -> None:
        self.dev_metrics = dev_figures({task: (torch.cat([o for o, _ in parts]).numpy(),
                                               torch.cat([t for _, t in parts]).numpy())
                                        for task, parts in self._dev.items()})
        for name, value in self.dev_metrics.items():
            self.log(f"dev_{name}", value, prog_bar=name == "score")
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit":
            figures = ", ".join(f"{k} {v:.4f}" for k, v in self.dev_metrics.items())
            print(f"epoch {self.current_epoch} step {self.global_step} dev: {figures}", flush=True)

    def configure_optimizers(self) -> dict[str, Any]:
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            [{"params": encoder, "lr": self.options.lr},
             {"params": self.heads.parameters(), "lr": self.options.head_lr}],
            weight_decay=self.options.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, int(total * self.options.warmup))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def dev_figures(outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Each task's dev figure from raw head outputs, and ``score``: the shipped heads' mean."""
    figures: dict[str, float] = {}
    for task, (out, targets) in outputs.items():
        objective = TASKS[task].objective
        if objective is Objective.BINARY:
            figures[f"{task}_auc"] = metrics.auc(out[:, 0], targets > 0.5)
        elif objective is Objective.PAIRWISE:
            figures[f"{task}_pairs"] = metrics.pair_accuracy(out[:, 0], out[:, 1])
        elif objective is Objective.REGRESSION:
            for i, dim in enumerate(("valence", "arousal", "dominance")):
                figures[f"{dim}_r"] = metrics.pearson(out[:, i], targets[:, i])
        else:
            figures[f"{task}_accuracy"] = metrics.accuracy(out.argmax(axis=1), targets)
    primary = [figures.get("acceptability_auc"), figures.get("utility_pairs"),
               np.nanmean([figures.get(f"{d}_r", np.nan) for d in ("valence", "arousal", "dominance")]),
               figures.get("emotion_accuracy")]
    present = [p for p in primary if p is not None and not math.isnan(p)]
    figures["score"] = float(np.mean(present)) if present else float("nan")
    return figures


class CorpusData(L.LightningDataModule):
    """Train batches from every task; dev batches in order (utility: better half, then worse)."""

    def __init__(self, corpus: dict[str, TaskData], collate: Collator, options: ModelTrainOptions):
        super().__init__()
        self.corpus = corpus
        self.collate = collate
        self.options = options

    def train_dataloader(self) -> DataLoader:
        examples = Examples({task: data.train for task, data in self.corpus.items()})
        return DataLoader(examples, batch_sampler=TaskBatchSampler(examples.ranges, self.options),
                          collate_fn=self.collate)

    def dev_examples(self) -> dict[str, list[Example]]:
        """Every shipped task's dev set; an even spread of ``AUX_DEV`` from each auxiliary one
        (the files come in label blocks, so a prefix may hold one class)."""
        return {task: data.dev if TASKS[task].ships else data.dev[::max(1, len(data.dev) // AUX_DEV)][:AUX_DEV]
                for task, data in self.corpus.items()}

    def val_dataloader(self) -> DataLoader:
        examples = Examples(self.dev_examples())
        sampler = TaskBatchSampler(examples.ranges, self.options, shuffle=False)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=self.collate)


class RecentChecks(L.Callback):
    """Keeps the weights of the last few dev checks of a fit, on the CPU, for :func:`averaged`."""

    def __init__(self, keep: int):
        self.states: deque[dict[str, torch.Tensor]] = deque(maxlen=max(keep, 1))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self.states.append({k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()})


def averaged(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of each floating-point weight over ``states`` (other buffers: the last's)."""
    last = states[-1]
    return {name: torch.stack([s[name].double() for s in states]).mean(dim=0).to(value.dtype)
            if value.is_floating_point() else value.clone() for name, value in last.items()}


@dataclass
class ModelTrainReport:
    path: Path
    metrics: dict[str, float]
    epochs: int
    seconds: float
    train_examples: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    exported: str = ""  # which weights: the best check, or the mean of the last checks


def _vad_standardisation(train: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([ex.target for ex in train], dtype=np.float64)
    return values.mean(axis=0).astype(np.float32), np.maximum(values.std(axis=0), 1e-3).astype(np.float32)


def calibrate(module: RedHeartModule) -> Calibration:
    """Temperature for acceptability (least dev log-loss) and utility's centre and spread, from
    the outputs of the module's last dev pass."""
    def outputs(task: str) -> tuple[np.ndarray, np.ndarray]:
        parts = module._dev[task]
        return (torch.cat([o for o, _ in parts]).numpy().astype(np.float64),
                torch.cat([t for _, t in parts]).numpy().astype(np.float64))

    logits, labels = outputs("acceptability")
    logits = logits[:, 0]
    grid = np.geomspace(0.25, 8.0, 61)
    nll = [np.mean(np.logaddexp(0, -logits / t) * labels + np.logaddexp(0, logits / t) * (1 - labels))
           for t in grid]
    utility = outputs("utility")[0].ravel()
    return Calibration(acceptability_temperature=float(grid[int(np.argmin(nll))]),
                       utility_center=float(np.median(utility)),
                       utility_scale=float(max(utility.std(), 1e-6)),
                       vad_mean=tuple(float(x) for x in module.vad_mean),
                       vad_std=tuple(float(x) for x in module.vad_std))


def train_model(corpus: dict[str, TaskData], base: str, base_path: str, out: str | Path,
                options: ModelTrainOptions, workdir: str | Path,
                command: str = "") -> ModelTrainReport:
    """Train on ``corpus`` (see :func:`.corpus.load_corpus`) from the base encoder at
    ``base_path`` and write the artifact to ``out``."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from ..training.trainers import make_trainer

    started = time.perf_counter()
    L.seed_everything(options.seed, workers=True, verbose=False)
    if options.debias and "utility" in corpus:
        corpus = dict(corpus)
        corpus["utility"] = _debiased(corpus["utility"], options.seed)
    vad_mean, vad_std = _vad_standardisation(corpus["vad"].train) if "vad" in corpus \
        else (np.zeros(3, np.float32), np.ones(3, np.float32))
    module = RedHeartModule(base_path, options, vad_mean, vad_std)
    data = CorpusData(corpus, Collator(module.tokenizer, options.max_length, vad_mean, vad_std), options)
    workdir = Path(workdir)
    best = ModelCheckpoint(dirpath=workdir, filename="redheart-{epoch:02d}-{step:05d}", monitor="dev_score",
                           mode="max", save_top_k=1, save_weights_only=True)
    recent = RecentChecks(options.average_last)
    trainer = make_trainer(progress=options.progress, callbacks=[best, recent], max_epochs=options.epochs,
                           accelerator=options.accelerator, devices=1, deterministic=True,
                           log_every_n_steps=20, num_sanity_val_steps=0,
                           val_check_interval=1.0 / options.evals_per_epoch,
                           use_distributed_sampler=False, enable_checkpointing=True)
    trainer.fit(module, datamodule=data)
    if best.best_model_path:
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    module.cpu()
    exported = _export_choice(module, data, list(recent.states) if options.average_last > 1 else [],
                              _epoch_of(best.best_model_path))
    calibration = calibrate(module)
    encoder_state = module.encoder.state_dict()
    deltas = {name: encoder_state[name] - module.base_state[name] for name in module.tuned}
    heads = {k: v for k, v in module.heads.state_dict().items()
             if k.split(".")[1] in SHIPPED}
    seconds = time.perf_counter() - started
    meta = ModelMeta(
        name=Path(out).stem, base=base, base_digest=base_digest(module.base_state, module.tuned),
        tuned=list(module.tuned), heads=[t for t in SHIPPED if t in options.tasks],
        hidden=options.hidden, pooling=module.rule, calibration=calibration,
        metrics={k: round(float(v), 4) for k, v in module.dev_metrics.items()},
        training={"command": command, "seconds": round(seconds, 1),
                  "epochs_run": int(trainer.current_epoch), "best_epoch": _epoch_of(best.best_model_path),
                  **exported,
                  "train_examples": {t: len(d.train) for t, d in corpus.items()},
                  "dev_examples": {t: len(d.dev) for t, d in corpus.items()},
                  "options": {k: v for k, v in vars(options).items() if k != "progress"}})
    path = save_model(out, meta, deltas, heads)
    return ModelTrainReport(path=path, metrics=meta.metrics, epochs=int(trainer.current_epoch),
                            seconds=seconds, train_examples=meta.training["train_examples"],
                            bytes=path.stat().st_size, exported=exported["exported"])


def _export_choice(module: RedHeartModule, data: CorpusData, recent: list[dict[str, torch.Tensor]],
                   best_check: str | None) -> dict[str, Any]:
    """Leave ``module`` holding what is exported: the best check (loaded) or the mean of the
    ``recent`` checks, whichever has the higher dev score; its dev outputs are the last
    validation's (the calibration reads them). What was chosen, and both scores, for the meta."""
    from ..training.trainers import make_trainer

    def validate() -> None:
        make_trainer(progress=False, accelerator="cpu", devices=1).validate(module, datamodule=data,
                                                                             verbose=False)

    validate()
    choice = {"exported": f"the best check ({best_check})" if best_check else "the last weights",
              "best_check_score": round(float(module.dev_metrics["score"]), 4)}
    if len(recent) < 2:
        return choice
    kept = ({k: v.clone() for k, v in module.state_dict().items()}, module._dev, module.dev_metrics)
    module.load_state_dict(averaged(recent))
    validate()
    mean_score = float(module.dev_metrics["score"])
    choice["mean_of_last_checks_score"] = round(mean_score, 4)
    if mean_score > choice["best_check_score"]:
        choice["exported"] = f"the mean of the last {len(recent)} checks"
        return choice
    module.load_state_dict(kept[0])
    module._dev, module.dev_metrics = kept[1], kept[2]
    return choice


def _debiased(data: TaskData, seed: int) -> TaskData:
    """The utility train pairs with their out-of-fold probe margins (frozen bundled encoder)."""
    from ..analyzers.embedder import get_embedder
    from .debias import probe_margins, with_margins

    encode = get_embedder("bundled-minilm", device="cpu", cache_size=1).encode
    return TaskData(data.task, with_margins(data.train, probe_margins(data.train, encode, seed=seed)),
                    data.dev)


def _epoch_of(checkpoint: str) -> str | None:
    """``"epoch E, step S"`` of a checkpoint file name."""
    stem = Path(checkpoint).stem if checkpoint else ""
    if "epoch=" not in stem:
        return None
    parts = dict(p.split("=") for p in stem.split("-") if "=" in p)
    return f"epoch {int(parts['epoch'])}, step {int(parts.get('step', 0))}"
