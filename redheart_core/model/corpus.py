"""The labelled data the Red Heart model learns from, read from the tree's ``data/`` folder.

Only train files are in the tree (``data/README.md`` gives sources and licences). Each task's
dev set is carved out of them by a stable hash of the example's *group* (the scenario an excuse
belongs to, the behaviour a trait is judged against, the pair itself), so the same rows are dev
on every machine, and variants of one scenario never sit on both sides. EmoBank brings its own
dev split; the emotion sentences have their own dev file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import RedheartError
from ..schema import EMOTIONS
from .tasks import TASKS

#: one example in DEV_SHARE (by group hash) is dev
DEV_SHARE = 10


class CorpusError(RedheartError):
    """A training file is missing or malformed; names the file, the row and what to do."""


@dataclass(frozen=True)
class Example:
    """One labelled example.

    ``pair`` is a second segment read together with ``text`` (an excuse, a trait); ``worse`` is
    the less pleasant text of a utility pair (``text`` being the more pleasant one).
    """

    text: str
    target: tuple[float, ...] = ()
    pair: str | None = None
    worse: str | None = None


@dataclass(frozen=True)
class TaskData:
    task: str
    train: list[Example]
    dev: list[Example]


def is_dev(group: str) -> bool:
    digest = hashlib.blake2b(group.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % DEV_SHARE == 0


def _rows(path: Path, header: bool = True) -> Iterator[tuple[int, list[str]]]:
    if not path.is_file():
        raise CorpusError(f"{path}: training file not found; the data folder is the repository's "
                          "data/ (see data/README.md), or pass --data DIR")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        for number, row in enumerate(reader, start=1):
            if header and number == 1:
                continue
            yield number, row


def _binary(value: str, path: Path, number: int) -> float:
    if value not in ("0", "1"):
        raise CorpusError(f"{path} row {number}: label {value!r} is not 0 or 1")
    return float(value)


def _split(examples: list[tuple[str, Example]], limit: int | None) -> tuple[list[Example], list[Example]]:
    train = [ex for group, ex in examples if not is_dev(group)]
    dev = [ex for group, ex in examples if is_dev(group)]
    if limit is not None:
        train, dev = train[:limit], dev[:max(2, limit // 4)]
    return train, dev


def read_acceptability(root: Path) -> list[tuple[str, Example]]:
    path = root / "ethics" / "commonsense_short_train.csv.gz"
    out = []
    for number, row in _rows(path):
        label, text = row[0], row[1]
        wrong = _binary(label, path, number)
        out.append((text, Example(text, (1.0 - wrong,))))
    return out


def read_utility(root: Path) -> list[tuple[str, Example]]:
    path = root / "ethics" / "utilitarianism_train.csv.gz"
    out = []
    for number, row in _rows(path, header=False):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise CorpusError(f"{path} row {number}: expected two non-empty texts")
        out.append((row[0] + "\x00" + row[1], Example(row[0], worse=row[1])))
    return out


def read_deontology(root: Path) -> list[tuple[str, Example]]:
    path = root / "ethics" / "deontology_train.csv.gz"
    return [(row[1], Example(row[1], (_binary(row[0], path, number),), pair=row[2]))
            for number, row in _rows(path)]


def read_justice(root: Path) -> list[tuple[str, Example]]:
    path = root / "ethics" / "justice_train.csv.gz"
    return [(row[1], Example(row[1], (_binary(row[0], path, number),)))
            for number, row in _rows(path)]


def read_virtue(root: Path) -> list[tuple[str, Example]]:
    path = root / "ethics" / "virtue_train.csv.gz"
    out = []
    for number, row in _rows(path):
        text, sep, trait = row[1].rpartition(" [SEP] ")
        if not sep:
            raise CorpusError(f"{path} row {number}: expected 'text [SEP] trait'")
        out.append((text, Example(text.strip(), (_binary(row[0], path, number),), pair=trait.strip())))
    return out


def vad_target(v: str, a: str, d: str) -> tuple[float, float, float]:
    """EmoBank's 1..5 ratings (3 neutral) on the result's -1..1 scale."""
    return tuple((float(x) - 3.0) / 2.0 for x in (v, a, d))  # type: ignore[return-value]


def read_vad(root: Path) -> list[tuple[str, Example]]:
    path = root / "emobank" / "emobank_train_dev.csv.gz"
    out = []
    for number, row in _rows(path):
        _, split, v, a, d, text = row
        if not text.strip():
            continue
        try:
            target = vad_target(v, a, d)
        except ValueError:
            raise CorpusError(f"{path} row {number}: V, A, D must be numbers") from None
        # the file's own split decides: the group is a marker, not a hash
        out.append(("dev" if split == "dev" else "train", Example(text, target)))
    return out


def read_emotion(root: Path) -> list[tuple[str, Example]]:
    out = []
    for name in ("train", "dev"):
        path = root / "emotion" / f"{name}.jsonl"
        if not path.is_file():
            raise CorpusError(f"{path}: training file not found (see data/README.md)")
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if obj.get("label") not in EMOTIONS:
                raise CorpusError(f"{path} line {number}: unknown label {obj.get('label')!r} "
                                  f"(valid: {', '.join(EMOTIONS)})")
            out.append((name, Example(obj["text"], (float(EMOTIONS.index(obj["label"])),))))
    return out


READERS: dict[str, Callable[[Path], list[tuple[str, Example]]]] = {
    "acceptability": read_acceptability, "utility": read_utility, "vad": read_vad,
    "emotion": read_emotion, "deontology": read_deontology, "justice": read_justice,
    "virtue": read_virtue,
}
#: tasks whose files name their own dev rows (group "dev") instead of a hashed share
_OWN_SPLIT = ("vad", "emotion")


def load_task(root: str | Path, task: str, limit: int | None = None) -> TaskData:
    """One task's train and dev examples from the data folder ``root``."""
    if task not in TASKS:
        raise CorpusError(f"unknown task {task!r} (valid: {', '.join(TASKS)})")
    examples = READERS[task](Path(root))
    if task in _OWN_SPLIT:
        train = [ex for group, ex in examples if group != "dev"]
        dev = [ex for group, ex in examples if group == "dev"]
        if limit is not None:
            train, dev = train[:limit], dev[:max(2, limit // 4)]
    else:
        train, dev = _split(examples, limit)
    return TaskData(task, train, dev)


def load_corpus(root: str | Path, tasks: tuple[str, ...] = tuple(TASKS),
                limit: int | None = None) -> dict[str, TaskData]:
    """Every task's data; ``limit`` caps train examples per task (dev: a quarter of it)."""
    return {task: load_task(root, task, limit) for task in tasks}
