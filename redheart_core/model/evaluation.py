"""Dev figures of a whole configuration, read from the result fields exactly as docs/result.md
defines them: what a user of ``redheart analyze`` gets, not what a head says in isolation.

- acceptability: AUC of ``circuit.final_ethical_score`` (higher = acceptable);
- utility: share of pairs whose more pleasant text has the higher ``bentham.final_score``, each
  text analysed on its own;
- VAD: Pearson r of ``emotion.valence / arousal / dominance`` with the human ratings;
- emotion: accuracy of ``emotion.primary``.

Texts run through :class:`~redheart_core.pipeline.Pipeline` with the given config (the offline
``none`` LLM backend by default), in a fixed order, each once.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..schema import EMOTIONS, AnalysisResult
from . import metrics
from .corpus import Example, load_task


@dataclass(frozen=True)
class DevSets:
    """The dev examples each figure is computed on."""

    acceptability: list[Example]
    utility: list[Example]
    vad: list[Example]
    emotion: list[Example]

    @classmethod
    def load(cls, data: str | Path, limit: int | None = None) -> "DevSets":
        def dev(task: str) -> list[Example]:
            examples = load_task(data, task).dev
            return examples[:limit] if limit else examples

        return cls(dev("acceptability"), dev("utility"), dev("vad"), dev("emotion"))

    def texts(self) -> list[str]:
        """Every text to analyse, each once, in a fixed order."""
        seen: dict[str, None] = {}
        for ex in (*self.acceptability, *self.vad, *self.emotion):
            seen.setdefault(ex.text)
        for ex in self.utility:
            seen.setdefault(ex.text)
            seen.setdefault(ex.worse)  # type: ignore[arg-type]
        return list(seen)


def read_emotion_file(path: str | Path) -> list[Example]:
    """``{"text", "label"}`` lines as emotion examples."""
    out = []
    for line in Path(path).read_text("utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            out.append(Example(obj["text"], (float(EMOTIONS.index(obj["label"])),)))
    return out


def figures(dev: DevSets, score: Callable[[str], AnalysisResult]) -> dict[str, float]:
    """The dev figures, with ``score(text)`` giving each text's result."""
    out: dict[str, float] = {}
    acc = [score(ex.text).circuit for ex in dev.acceptability]
    if all(c is not None for c in acc) and acc:
        out["acceptability_auc"] = metrics.auc(np.array([c.final_ethical_score for c in acc]),
                                               np.array([ex.target[0] > 0.5 for ex in dev.acceptability]))
    better = [score(ex.text).bentham for ex in dev.utility]
    worse = [score(ex.worse).bentham for ex in dev.utility]  # type: ignore[arg-type]
    if better and all(b is not None for b in better + worse):
        out["utility_pairs"] = metrics.pair_accuracy(np.array([b.final_score for b in better]),
                                                     np.array([w.final_score for w in worse]))
    emotions = [score(ex.text).emotion for ex in dev.vad]
    if emotions and all(e is not None for e in emotions):
        for i, dim in enumerate(("valence", "arousal", "dominance")):
            out[f"{dim}_r"] = metrics.pearson(np.array([getattr(e, dim) for e in emotions]),
                                              np.array([ex.target[i] for ex in dev.vad]))
    labelled = [(score(ex.text).emotion, ex) for ex in dev.emotion]
    if labelled and all(e is not None for e, _ in labelled):
        out["emotion_accuracy"] = metrics.accuracy(
            np.array([e.primary for e, _ in labelled]),
            np.array([EMOTIONS[int(ex.target[0])] for _, ex in labelled]))
    return out


async def _analyze_all(config: Any, texts: Sequence[str]) -> dict[str, AnalysisResult]:
    from ..pipeline import Pipeline

    async with Pipeline.from_config(config) as pipe:
        results = await pipe.analyze_many(list(texts))
    failed = [r for r in results if r.errors]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(texts)} analyses failed, e.g. {failed[0].errors[0]}")
    return dict(zip(texts, results))


def evaluate_config(config: Any, dev: DevSets) -> dict[str, float]:
    """The dev figures of the analysis ``config`` describes."""
    results = asyncio.run(_analyze_all(config, dev.texts()))
    return figures(dev, results.__getitem__)
