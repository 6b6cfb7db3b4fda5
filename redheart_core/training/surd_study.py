"""SURD over a batch results file: which result fields uniquely, redundantly or
synergistically carry information about a target field, across many analyses.

Fields are dotted paths into each line's ``result`` (``emotion.distribution.fear``,
``bentham.scenarios.0.final_score``); a leading ``result.`` is accepted too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .data import DatasetError


class FieldMissing(LookupError):
    """A dotted path does not lead to a number in one result."""


def field_value(result: Any, path: str) -> float:
    """The number at ``path`` in ``result`` (booleans count as 0/1)."""
    node = result
    for part in path.removeprefix("result.").split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise FieldMissing(f"{path}: no {part!r}")
    if isinstance(node, bool):
        return float(node)
    if not isinstance(node, (int, float)):
        raise FieldMissing(f"{path}: not a number")
    return float(node)


@dataclass
class SurdStudy:
    """The decomposition of ``target`` by ``sources`` over ``samples`` results, in bits."""

    target: str
    sources: list[str]
    bins: int
    samples: int
    unique: dict[str, float]
    redundant: dict[str, float]
    synergistic: dict[str, float]
    mutual_information: float
    info_leak: float
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    #: set when the results are too few for the bins (see analyzers.surd.MIN_SAMPLES_PER_BIN)
    warning: str | None = None

    @property
    def skipped(self) -> int:
        return sum(self.skipped_reasons.values())

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "sources": self.sources, "bins": self.bins,
                "samples": self.samples, "unique": self.unique, "redundant": self.redundant,
                "synergistic": self.synergistic, "mutual_information": self.mutual_information,
                "info_leak": self.info_leak, "skipped": self.skipped, "warning": self.warning}

    def rows(self) -> list[tuple[str, str, float]]:
        """``(kind, sources, bits)`` for every part, unique first."""
        return ([("unique", k, v) for k, v in self.unique.items()]
                + [("redundant", k, v) for k, v in self.redundant.items()]
                + [("synergistic", k, v) for k, v in self.synergistic.items()])

    def table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"SURD of {self.target}",
                      caption=f"{self.samples} results, {self.bins} bins; "
                              f"I(target; sources) = {self.mutual_information:.4f} bits; "
                              f"leak {self.info_leak:.3f}")
        table.add_column("part")
        table.add_column("sources")
        table.add_column("bits", justify="right")
        for kind, names, bits in self.rows():
            table.add_row(kind, names, f"{bits:.4f}")
        return table


def surd_study(path: str | Path, target: str, sources: Sequence[str], bins: int = 8) -> SurdStudy:
    """Read the results at ``path`` and decompose ``target`` by ``sources``."""
    import numpy as np

    from ..analyzers.surd import surd_from_samples

    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, None, "file not found")
    rows: list[list[float]] = []
    skipped: Counter[str] = Counter()
    with path.open(encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                skipped["torn or invalid line"] += 1
                continue
            if not isinstance(line, dict) or "result" not in line:
                skipped["error line (no result)"] += 1
                continue
            try:
                rows.append([field_value(line["result"], f) for f in (target, *sources)])
            except FieldMissing as exc:
                skipped[f"without {str(exc).split(':')[0]}"] += 1
    if len(rows) < 2:
        reasons = "; ".join(f"{n} {why}" for why, n in skipped.items()) or "the file is empty"
        raise DatasetError(path, None, None, f"fewer than two results hold {target} and every "
                           f"source ({reasons}); check the dotted paths")
    data = np.asarray(rows, dtype=np.float64)
    result = surd_from_samples(data[:, 0], data[:, 1:], bins=bins)
    named = result.named(list(sources))
    return SurdStudy(target=target, sources=list(sources), bins=bins, samples=len(rows),
                     unique=named["unique"], redundant=named["redundant"],
                     synergistic=named["synergistic"],
                     mutual_information=float(result.total_mutual_information),
                     info_leak=float(result.info_leak), skipped_reasons=dict(skipped),
                     warning=result.warning)


def plot_study(study: SurdStudy, path: str | Path) -> Path:
    """A bar chart of every part (blue unique, green redundant, red synergistic) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    colours = {"unique": "#3b75af", "redundant": "#519e3e", "synergistic": "#c53a32"}
    rows = study.rows()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(rows) + 2), 3.6), dpi=120)
    ax.bar(range(len(rows)), [bits for _, _, bits in rows],
           color=[colours[kind] for kind, _, _ in rows])
    ax.set_xticks(range(len(rows)), [f"{kind[0].upper()} {names}" for kind, names, _ in rows],
                  rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("bits")
    ax.set_title(f"SURD of {study.target} (n={study.samples}, leak {study.info_leak:.2f})", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
