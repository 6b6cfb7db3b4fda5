"""Anticipated regret over the counterfactual scenarios.

Each scenario's utility is its Bentham final score (0..1); the situation as described is the
proposed course, with utility the situation's final score. Regret of an option is
``max(0, best alternative - its utility)`` (Loomes and Sugden, "Regret theory", Econ. J. 92,
1982, in its simplest form). From the proposed course's regret ``r``:

- ``anticipated = r`` (0..1); with a trained head (``checkpoint``) the mean of ``r`` and the
  head's value;
- ``experienced = anticipated * (0.5 + 0.5 * self-level loss)``: regret already felt;
- ``intensity = sqrt(anticipated) * (0.4 + 0.6 * emotional intensity)`` (0..1);
- ``duration_hours = anticipated * max_duration_hours * (0.2 + 0.8 * Bentham duration)``;
- ``confidence = Bentham confidence * (0.5 + 0.5 * spread)``, spread the range of utilities
  (doubled, capped at 1): a choice between near-equal options is an uncertain one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..schema import LOSS_EMOTIONS
from . import heads
from .base import AnalyzerItem
from .options import RegretOptions
from .embedder import Embedder, item_vectors

if TYPE_CHECKING:
    from ..memory.manager import UnifiedMemoryManager

AS_DESCRIBED = "proceed as described"


def regrets(utilities: Sequence[float]) -> list[float]:
    """Regret of each option: how far the best *other* option beats it (never negative)."""
    u = np.asarray(utilities, dtype=np.float64)
    out = []
    for i in range(len(u)):
        others = np.delete(u, i)
        out.append(float(max(0.0, others.max() - u[i])) if len(others) else 0.0)
    return out


class RegretAnalyzer(heads.OptionalHead):
    name = "regret"
    head_kind = "regret"
    requires: tuple[str, ...] = ("emotion", "bentham")
    stage = "red_heart"

    def __init__(self, embedder: Embedder, options: RegretOptions | None = None,
                 memory: "UnifiedMemoryManager | None" = None):
        self.embedder = embedder
        self.options = options if options is not None else RegretOptions()
        self._max_hours = float(self.options.max_duration_hours)
        self._load_head(memory)

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        trained = (np.clip(heads.run(self.head, item_vectors(self.embedder, items))[:, 0], 0.0, 1.0)
                   if self.head is not None else [None] * len(items))
        return [self._read(item, head) for item, head in zip(items, trained)]

    def _read(self, item: AnalyzerItem, head: float | None) -> dict[str, Any]:
        bentham = item.results["bentham"]
        emotion = item.results["emotion"]
        options = [(AS_DESCRIBED, "situation", bentham["final_score"])]
        options += [(s["action"], s["type"], s["final_score"]) for s in bentham["scenarios"]]
        utilities = [u for _, _, u in options]
        regret = regrets(utilities)
        anticipated = regret[0] if head is None else 0.5 * (regret[0] + float(head))
        self_loss = sum(emotion["levels"]["self"]["distribution"][e] for e in LOSS_EMOTIONS)
        intensity01 = (emotion["intensity"] - 1) / 5
        spread = min(1.0, 2 * (max(utilities) - min(utilities)))
        best = int(np.argmax(utilities))
        return {
            "anticipated": float(anticipated),
            "experienced": float(anticipated * (0.5 + 0.5 * self_loss)),
            "intensity": float(np.sqrt(anticipated) * (0.4 + 0.6 * intensity01)),
            "duration_hours": float(anticipated * self._max_hours
                                    * (0.2 + 0.8 * bentham["values"]["duration"])),
            "best_alternative": options[best][0],
            "scenarios": [{"type": kind, "action": action, "utility": float(u), "regret": r}
                          for (action, kind, u), r in zip(options[1:], regret[1:])],
            "confidence": float(np.clip(bentham["confidence"] * (0.5 + 0.5 * spread), 0.0, 1.0)),
        }
