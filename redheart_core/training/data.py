"""Labelled JSONL for the heads: reading with line-and-field errors, splitting, and the
LightningDataModule that feeds embedder vectors to a head.

Record shapes, one JSON object per line (blank lines are ignored)::

    {"text": "...", "label": "fear"}                          emotion
    {"text": "...", "bentham": {"intensity": 0.7, ...}}       bentham, all 10 dimensions
    {"text": "...", "regret": 0.4}                            regret

With the embedder frozen (the default) texts are encoded once, up front, by the same shared
embedder the analyzers use at inference, so a head learns on exactly the vectors it will later
see; when the embedder is fine-tuned along with the head, batches carry the texts instead.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..errors import RedheartError
from .targets import HeadTarget

Encoder = Callable[[list[str]], np.ndarray]


class DatasetError(RedheartError):
    """A labelled record is malformed; names the file, the line and the field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field = str(path), line, field
        where = self.path if line is None else f"{self.path} line {line}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class LabelledRecord:
    """One training example: the text and its target (a class index, or values in 0..1)."""

    text: str
    target: int | tuple[float, ...]
    line: int


def _unit_value(value: Any, path: Path, line: int, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DatasetError(path, line, field, f"expected a number in 0..1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise DatasetError(path, line, field, f"{value!r} is outside 0..1")
    return float(value)


def parse_record(obj: dict[str, Any], target: HeadTarget, path: Path, line: int) -> LabelledRecord:
    """Check one decoded JSON line against ``target``'s record shape."""
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(path, line, "text", "missing or empty; every record needs the text")
    if target.field not in obj:
        raise DatasetError(path, line, target.field,
                           f"missing; a {target.kind} record needs {target.field!r}")
    value = obj[target.field]
    if target.classifies:
        if value not in target.labels:
            raise DatasetError(path, line, target.field, f"unknown label {value!r} "
                               f"(valid: {', '.join(target.labels)})")
        return LabelledRecord(text.strip(), target.labels.index(value), line)
    if len(target.labels) == 1:
        return LabelledRecord(text.strip(), (_unit_value(value, path, line, target.field),), line)
    if not isinstance(value, dict):
        raise DatasetError(path, line, target.field,
                           f"expected an object with {', '.join(target.labels)}")
    unknown = sorted(set(value) - set(target.labels))
    if unknown:
        raise DatasetError(path, line, f"{target.field}.{unknown[0]}",
                           f"unknown dimension (valid: {', '.join(target.labels)})")
    values = []
    for label in target.labels:
        if label not in value:
            raise DatasetError(path, line, f"{target.field}.{label}", "missing")
        values.append(_unit_value(value[label], path, line, f"{target.field}.{label}"))
    return LabelledRecord(text.strip(), tuple(values), line)


def json_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file; a line that is not a
    JSON object raises :class:`DatasetError` naming it."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(path, None, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(path, number, None, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DatasetError(path, number, None, f"expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def read_records(path: str | Path, target: HeadTarget) -> list[LabelledRecord]:
    """Every record of a labelled JSONL file; the first bad one raises :class:`DatasetError`."""
    path = Path(path)
    records = [parse_record(obj, target, path, number) for number, obj in json_objects(path)]
    if not records:
        raise DatasetError(path, None, None, "holds no records")
    return records


def split_records(records: Sequence[LabelledRecord], val_fraction: float, seed: int,
                  target: HeadTarget) -> tuple[list[LabelledRecord], list[LabelledRecord]]:
    """A seeded train/validation split; stratified by label for a classifying head, so every
    label with at least two examples is represented on both sides."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(records) < 2:
        raise ValueError("at least two records are needed to hold some back for validation")
    rng = random.Random(seed)
    groups: dict[Any, list[LabelledRecord]] = {}
    for record in records:
        groups.setdefault(record.target if target.classifies else None, []).append(record)
    train, val = [], []
    for key in sorted(groups, key=str):
        group = list(groups[key])
        rng.shuffle(group)
        n_val = round(len(group) * val_fraction) if len(group) > 1 else 0
        n_val = min(max(n_val, 1 if len(group) > 1 else 0), len(group) - 1)
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    if not val:
        val.append(train.pop())
    return sorted(train, key=lambda r: r.line), sorted(val, key=lambda r: r.line)


def targets_tensor(records: Sequence[LabelledRecord], target: HeadTarget) -> torch.Tensor:
    if target.classifies:
        return torch.tensor([r.target for r in records], dtype=torch.long)
    return torch.tensor([r.target for r in records], dtype=torch.float32)


def to_tensors(records: Sequence[LabelledRecord], encode: Encoder,
               target: HeadTarget) -> TensorDataset:
    """(vector, target) pairs: the texts encoded once by the frozen embedder."""
    vectors = torch.as_tensor(np.asarray(encode([r.text for r in records]), dtype=np.float32))
    return TensorDataset(vectors, targets_tensor(records, target))


class TextDataset(Dataset):
    """(text, target) pairs, for a head trained together with its embedder."""

    def __init__(self, records: Sequence[LabelledRecord], target: HeadTarget):
        self.texts = [r.text for r in records]
        self.targets = targets_tensor(records, target)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor]:
        return self.texts[index], self.targets[index]


def collate_texts(batch: Sequence[tuple[str, torch.Tensor]]) -> tuple[list[str], torch.Tensor]:
    return [text for text, _ in batch], torch.stack([t for _, t in batch])


class HeadDataModule(L.LightningDataModule):
    """Train and validation sets of (embedder vector, target) for one head, or of (text,
    target) when ``encode`` is None (the embedder is trained too).

    Without ``val_path`` a seeded ``val_fraction`` of ``train_path`` is held back.
    """

    def __init__(self, target: HeadTarget, train_path: str | Path, val_path: str | Path | None = None,
                 *, encode: Encoder | None, val_fraction: float = 0.2, batch_size: int = 32, seed: int = 0):
        super().__init__()
        self.target = target
        self.train_path = Path(train_path)
        self.val_path = Path(val_path) if val_path is not None else None
        self.encode = encode
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.seed = seed
        self.train_records: list[LabelledRecord] = []
        self.val_records: list[LabelledRecord] = []
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def load_records(self) -> None:
        """Read and split the records (cheap; done before any model is built so that a bad
        file fails at once)."""
        records = read_records(self.train_path, self.target)
        if self.val_path is None:
            if len(records) < 2:
                raise DatasetError(self.train_path, None, None, "at least two records are needed "
                                   "to hold some back for validation; add records or give --val FILE")
            self.train_records, self.val_records = split_records(
                records, self.val_fraction, self.seed, self.target)
        else:
            self.train_records = records
            self.val_records = read_records(self.val_path, self.target)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if not self.train_records:
            self.load_records()
        if self.encode is None:
            self.train_set = TextDataset(self.train_records, self.target)
            self.val_set = TextDataset(self.val_records, self.target)
        else:
            self.train_set = to_tensors(self.train_records, self.encode, self.target)
            self.val_set = to_tensors(self.val_records, self.encode, self.target)

    def _loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        collate = collate_texts if self.encode is None else None
        return DataLoader(dataset, batch_size=self.batch_size, collate_fn=collate, **kwargs)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return self._loader(self.train_set, shuffle=True, generator=generator)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)
