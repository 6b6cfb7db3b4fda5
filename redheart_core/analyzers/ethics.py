"""Moral-foundation salience: care/harm, fairness, loyalty, authority, sanctity, liberty.

Each value (0.1..0.9) says how much the situation engages that foundation (Graham, Haidt et al.,
"Moral Foundations Theory", Adv. Exp. Soc. Psychol. 47, 2013; liberty as in Iyer et al. 2012).
Three readings add up, then map onto 0.1..0.9 so that no foundation is ever reported as
absent or absolute:

- the text's similarity to exemplar phrases of each foundation (``data/ethics_exemplars.json``),
  relative to the text's mean similarity over all six (a logistic of the difference);
- the emotion analysis: loss felt by others raises care/harm, anger fairness, trust loyalty,
  disgust sanctity, fear liberty;
- the LLM's named ethical issues (``InitialAnalysis.ethics``), matched by keyword;
- with the Red Heart model (``method: model``, the default), how wrong people would find the
  situation (one minus the acceptability head's probability, trained on ETHICS commonsense)
  raises each foundation by up to ``WRONGNESS_WEIGHT`` times its text salience: a wrong act
  makes the foundations it touches more salient.
"""

from __future__ import annotations

import json
import threading
from importlib import resources
from typing import Any, Sequence

import numpy as np

from ..schema import FOUNDATIONS, LOSS_EMOTIONS
from .base import AnalyzerItem
from ..model.encoder import rowwise
from .embedder import Embedder, item_vectors
from .options import EthicsOptions, uses_model
from .text_cues import read_cues

LOW, HIGH = 0.1, 0.9
#: relative similarity (cosine) that moves a foundation's text salience from 0.5 to ~0.73
SIMILARITY_SCALE = 0.05
WRONGNESS_WEIGHT = 0.3
KEYWORDS = {
    "care_harm": ("harm", "hurt", "care", "suffer", "safe", "injur", "welfare", "wellbeing", "kill",
                  "pain", "compassion", "protect", "violence"),
    "fairness": ("fair", "justice", "equal", "right", "honest", "cheat", "lie", "lying", "decept",
                 "truth", "corrupt", "bribe"),
    "loyalty": ("loyal", "betray", "friend", "team", "family", "solidarity", "allegiance"),
    "authority": ("law", "legal", "rule", "authority", "duty", "obey", "order", "boss", "policy",
                  "hierarch", "respect"),
    "sanctity": ("pure", "purity", "sacred", "dignit", "degrad", "disgust", "integrity", "sanct",
                 "contaminat", "pollut"),
    "liberty": ("freedom", "liberty", "autonomy", "consent", "coerc", "choice", "privacy",
                "oppress", "forced"),
}


class _Prototypes:
    def __init__(self, embedder: Embedder):
        data = json.loads(resources.files(__package__).joinpath("data").joinpath(
            "ethics_exemplars.json").read_text("utf-8"))
        vectors = embedder.encode([text for f in FOUNDATIONS for text in data[f]])  # one pass
        ends = np.cumsum([len(data[f]) for f in FOUNDATIONS])
        self.groups = np.split(vectors, ends[:-1])

    def salience(self, vectors: np.ndarray, k: int = 3) -> np.ndarray:
        sims = np.stack([np.sort(rowwise(vectors, g.T), axis=1)[:, -k:].mean(axis=1) for g in self.groups], axis=1)
        relative = (sims - sims.mean(axis=1, keepdims=True)) / SIMILARITY_SCALE
        return 1 / (1 + np.exp(-relative))


_cache: dict[str, _Prototypes] = {}
_lock = threading.Lock()


def _prototypes(embedder: Embedder) -> _Prototypes:
    with _lock:
        if embedder.model_id not in _cache:
            _cache[embedder.model_id] = _Prototypes(embedder)
        return _cache[embedder.model_id]


def emotion_adjustments(emotion: dict[str, Any]) -> np.ndarray:
    """How the felt emotions raise each foundation (0..0.4 each), in ``FOUNDATIONS`` order."""
    dist = emotion["distribution"]
    weights = emotion["integrated"]["weights"]
    levels = emotion["levels"]
    others_loss = sum(weights[lv] * sum(levels[lv]["distribution"][e] for e in LOSS_EMOTIONS)
                      for lv in ("other", "community")) / (weights["other"] + weights["community"])
    return np.array([
        0.4 * others_loss,
        0.3 * dist["anger"],
        0.2 * dist["trust"],
        0.0,
        0.4 * dist["disgust"],
        0.2 * dist["fear"],
    ])


def llm_mentions(issues: Sequence[str]) -> np.ndarray:
    """How many of the LLM's named issues touch each foundation."""
    text = [i.lower() for i in issues if isinstance(i, str)]
    return np.array([sum(any(k in issue for k in KEYWORDS[f]) for issue in text) for f in FOUNDATIONS],
                    dtype=np.float64)


class EthicsAnalyzer:
    name = "ethics"
    requires: tuple[str, ...] = ("emotion",)
    stage = "red_heart"

    def __init__(self, embedder: Embedder, options: EthicsOptions | None = None):
        self.embedder = embedder
        self.options = options if options is not None else EthicsOptions()
        self.model = uses_model(self.options.method, embedder, "analyzer_options.ethics.method")
        self.prototypes = _prototypes(embedder)

    def provenance(self) -> dict[str, str]:
        return {"embedder": self.embedder.model_id}

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        vectors = item_vectors(self.embedder, items)
        salience = self.prototypes.salience(vectors)
        wrongness = 1.0 - self.embedder.read(vectors).acceptability if self.model else np.zeros(len(items))
        w_llm = float(np.clip(self.options.llm_weight, 0.0, 1.0))
        out = []
        for item, text_salience, wrong in zip(items, salience, wrongness):
            score = 0.6 * text_salience + emotion_adjustments(item.results["emotion"])
            score += WRONGNESS_WEIGHT * wrong * text_salience
            fairness_cue = read_cues(item.english_text).fairness
            score[FOUNDATIONS.index("fairness")] += 0.2 * fairness_cue
            if item.initial is not None and item.initial.ethics:
                score += w_llm * np.minimum(llm_mentions(item.initial.ethics), 2.0) / 2.0
            values = LOW + (HIGH - LOW) * np.clip(score, 0.0, 1.0)
            out.append({f: float(v) for f, v in zip(FOUNDATIONS, values)})
        return out

