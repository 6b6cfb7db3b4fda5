"""The scores a batch is summed up by, their distributions, and its best and worst records.

Read from a ``redheart batch`` results file (``{"id", "result"}`` or ``{"id", "error"}`` per
line); the terminal summary of ``redheart batch`` and the HTML report of ``redheart report``
both use it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..training.surd_study import FieldMissing, field_value

#: (dotted path into a result, label, what "worst" means: the low or the high end)
SCORES: tuple[tuple[str, str, str], ...] = (
    ("circuit.final_ethical_score", "final ethical score", "low"),
    ("bentham.final_score", "Bentham final score", "low"),
    ("regret.anticipated", "anticipated regret", "high"),
    ("emotion.valence", "emotional valence", "low"),
    ("emotion.confidence", "emotion confidence", "low"),
)


@dataclass
class Distribution:
    """Summary statistics and an equal-width histogram of one score over the results."""

    values: list[float]
    bins: int = 10

    @property
    def count(self) -> int:
        return len(self.values)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.values)
        position = q * (len(ordered) - 1)
        low, high = math.floor(position), math.ceil(position)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def histogram(self) -> tuple[list[int], float, float]:
        """Counts per bin, and the range they cover (the observed range)."""
        low, high = min(self.values), max(self.values)
        width = (high - low) / self.bins or 1.0
        counts = [0] * self.bins
        for value in self.values:
            counts[min(self.bins - 1, int((value - low) / width))] += 1
        return counts, low, high


@dataclass
class Record:
    id: str
    result: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.result.get("text", ""))

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.result.get("errors") or [])


@dataclass
class ResultsRecords:
    """The lines of a results file: results, lines that carry an error instead, torn lines."""

    path: Path
    results: list[Record] = field(default_factory=list)
    failed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unreadable: int = 0

    @property
    def with_stage_errors(self) -> list[Record]:
        return [r for r in self.results if r.errors]

    def failure_types(self) -> dict[str, int]:
        """How often each error type occurs: whole-record failures and failed stages."""
        counts: dict[str, int] = {}
        for _, error in self.failed:
            kind = str(error.get("type", "Error"))
            counts[kind] = counts.get(kind, 0) + 1
        for record in self.results:
            for error in record.errors:
                kind = f"{error.get('stage', '?')}: {error.get('type', 'Error')}"
                counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def values(self, path: str) -> list[tuple[Record, float]]:
        out = []
        for record in self.results:
            try:
                out.append((record, field_value(record.result, path)))
            except FieldMissing:
                continue
        return out

    def distributions(self, scores: Sequence[tuple[str, str, str]] = SCORES) -> dict[str, Distribution]:
        """Label -> distribution, for every score at least one result holds."""
        out = {}
        for path, label, _ in scores:
            values = [v for _, v in self.values(path)]
            if values:
                out[label] = Distribution(values)
        return out

    def extremes(self, path: str, worst_end: str, n: int = 3) -> tuple[list[tuple[Record, float]],
                                                                         list[tuple[Record, float]]]:
        """The ``n`` worst and ``n`` best records on the score at ``path``."""
        ranked = sorted(self.values(path), key=lambda rv: rv[1], reverse=worst_end == "high")
        return ranked[:n], ranked[::-1][:n]


def read_results(path: str | Path) -> ResultsRecords:
    """Every line of a results file; a torn or unreadable line is counted, not fatal."""
    from ..errors import RedheartError

    path = Path(path)
    if not path.is_file():
        raise RedheartError(f"{path}: no such results file (write one with `redheart batch`)")
    records = ResultsRecords(path)
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                records.unreadable += 1
                continue
            if isinstance(line, dict) and isinstance(line.get("result"), dict):
                records.results.append(Record(str(line.get("id", "")), line["result"]))
            elif isinstance(line, dict) and isinstance(line.get("error"), dict):
                records.failed.append((str(line.get("id", "")), line["error"]))
            else:
                records.unreadable += 1
    return records
