"""Emotion at three levels (self / other / community) and their integration.

By default a text's seven-label distribution and its valence / arousal / dominance come from
the Red Heart model's heads (:mod:`redheart_core.model`), trained on the project's labelled
sentences and on EmoBank's human ratings. ``method: heuristic`` (or an embedder without heads)
uses the earlier path: prototype similarity against exemplar phrases
(``data/emotion_exemplars.json``), probabilities with a temperature calibrated on those
exemplars by leave-one-out, and VAD from per-label anchors; ``checkpoint`` swaps a trained
single head in for the prototypes. Each level reads the clauses that speak of it (pronouns and
role nouns, :mod:`.text_cues`), whose vectors come from the same encoder pass as the whole
text's; the LLM's reading, when there is one, is blended into the distributions. Integration
weighs community .5 / other .3 / self .2 and lets a strong loss at the other or community level
outweigh personal joy ("priority reversal").
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from ..schema import EMOTIONS, LEVELS, LOSS_EMOTIONS, InitialAnalysis
from . import heads
from .base import AnalyzerItem
from ..model.encoder import rowwise
from .embedder import Embedder, item_encodings
from .options import EmotionOptions, uses_model
from .text_cues import clause_spans, read_cues

if TYPE_CHECKING:
    from ..memory.manager import UnifiedMemoryManager

#: valence, arousal, dominance anchors per label in -1..1, after the NRC VAD lexicon
#: (Mohammad 2018) rescaled from 0..1; surprise's valence is set mildly positive because the
#: label covers pleasant and unpleasant surprises alike
VAD = np.array([
    [0.96, 0.65, 0.59],    # joy
    [0.78, 0.09, 0.48],    # trust
    [-0.85, 0.68, -0.41],  # fear
    [0.20, 0.75, 0.12],    # surprise
    [-0.90, -0.42, -0.67],  # sadness
    [-0.90, 0.55, -0.37],  # disgust
    [-0.67, 0.73, 0.31],   # anger
])
BASE_WEIGHTS = {"self": 0.2, "other": 0.3, "community": 0.5}
#: how much weight a level with a critical loss gains before renormalising
CRITICAL_SHIFT = 0.3
LOSS_INDEX = np.array([EMOTIONS.index(e) for e in LOSS_EMOTIONS])
POSITIVE_INDEX = np.array([EMOTIONS.index("joy"), EMOTIONS.index("trust")])
_TEMPERATURES = np.geomspace(0.005, 0.5, 60)


def load_exemplars(name: str = "emotion_exemplars.json") -> dict[str, list[str]]:
    data = json.loads(resources.files(__package__).joinpath("data").joinpath(name).read_text("utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class PrototypeClassifier:
    """Label scores = mean of (cosine to the label's centroid, mean of the top-k exemplar cosines);
    probabilities = softmax(scores / temperature)."""

    def __init__(self, exemplar_vectors: np.ndarray, labels: np.ndarray, n_labels: int,
                 top_k: int = 3, temperature: float | None = None):
        self.vectors = exemplar_vectors.astype(np.float32)
        self.labels = labels
        self.n_labels = n_labels
        self.top_k = top_k
        self._masks = [labels == i for i in range(n_labels)]
        centroids = np.stack([self.vectors[m].mean(axis=0) for m in self._masks])
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        self.temperature = temperature if temperature is not None else self.calibrate()

    def scores(self, vectors: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        sims = rowwise(vectors, self.vectors.T)
        centroids = self.centroids
        if exclude_self:  # leave-one-out: vectors are the exemplars themselves
            np.fill_diagonal(sims, -np.inf)
            sums = np.stack([self.vectors[m].sum(axis=0) for m in self._masks])
            loo = sums[self.labels] - self.vectors
            loo /= np.linalg.norm(loo, axis=1, keepdims=True)
        out = np.empty((len(vectors), self.n_labels), dtype=np.float64)
        for i, mask in enumerate(self._masks):
            k = min(self.top_k, int(mask.sum()) - (1 if exclude_self else 0))
            top = np.sort(sims[:, mask], axis=1)[:, -k:].mean(axis=1)
            centre = rowwise(vectors, centroids[i][:, None])[:, 0]
            if exclude_self:
                own = self.labels == i
                centre = np.where(own, np.einsum("ij,ij->i", vectors, loo), centre)
            out[:, i] = 0.5 * top + 0.5 * centre
        return out

    def calibrate(self) -> float:
        """The temperature minimising the leave-one-out negative log-likelihood of the exemplars."""
        scores = self.scores(self.vectors, exclude_self=True)
        rows = np.arange(len(self.labels))
        nll = [-np.log(softmax(scores / t)[rows, self.labels] + 1e-12).mean() for t in _TEMPERATURES]
        return float(_TEMPERATURES[int(np.argmin(nll))])

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return softmax(self.scores(np.asarray(vectors, dtype=np.float32)) / self.temperature)

    def read(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist = self.probabilities(vectors)
        return dist, rowwise(dist, VAD)


class HeadClassifier:
    """A trained single head (``redheart train emotion``) over the embedder's vectors."""

    def __init__(self, module: Any, path: str):
        self.module = module
        self.path = path

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return softmax(heads.run(self.module, vectors))

    def read(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist = self.probabilities(vectors)
        return dist, rowwise(dist, VAD)


class ModelReader:
    """The Red Heart model's emotion and VAD heads (one encoder pass serves both)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return self.embedder.read(vectors).emotion

    def read(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        readings = self.embedder.read(vectors)
        return readings.emotion, readings.vad


class EmotionReader(Protocol):
    """Vectors ``(n, dim)`` -> (distributions ``(n, 7)``, valence/arousal/dominance ``(n, 3)``)."""

    def probabilities(self, vectors: np.ndarray) -> np.ndarray: ...

    def read(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


_prototype_cache: dict[tuple[str, int, float | None], PrototypeClassifier] = {}
_prototype_lock = threading.Lock()


def prototype_classifier(embedder: Embedder, top_k: int = 3,
                         temperature: float | None = None) -> PrototypeClassifier:
    """The exemplar classifier for an embedder (built once per model id and settings)."""
    key = (embedder.model_id, top_k, temperature)
    with _prototype_lock:
        if key not in _prototype_cache:
            exemplars = load_exemplars()
            texts = [t for label in EMOTIONS for t in exemplars[label]]
            labels = np.array([i for i, label in enumerate(EMOTIONS) for _ in exemplars[label]])
            _prototype_cache[key] = PrototypeClassifier(embedder.encode(texts), labels,
                                                        len(EMOTIONS), top_k, temperature)
        return _prototype_cache[key]


# ------------------------------------------------------------------ reading a distribution


def llm_distribution(initial: InitialAnalysis | None) -> np.ndarray | None:
    """The LLM's emotion reading as a distribution, or None when it gives nothing usable."""
    if initial is None or not initial.emotions:
        return None
    values = np.array([_finite(initial.emotions.get(label, 0.0)) for label in EMOTIONS])
    values = np.clip(values, 0.0, None)
    total = values.sum()
    return values / total if total > 0 else None


def informativeness(dist: np.ndarray) -> float:
    """1 - normalised entropy: a uniform reading says nothing, a one-label reading everything."""
    entropy = float(-(dist * np.log(dist + 1e-12)).sum())
    return float(np.clip(1.0 - entropy / np.log(len(dist)), 0.0, 1.0))


def _finite(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if np.isfinite(v) else 0.0


_LOG_LABELS = float(np.log(len(EMOTIONS)))


def _unit_range(value: float) -> float:
    return min(max(value, -1.0), 1.0)


def describe(dist: np.ndarray, intensifiers: int = 0, vad: np.ndarray | None = None) -> dict[str, Any]:
    """Primary, VAD, intensity (1..6) and confidence of one distribution, as an EmotionLevel.

    ``vad`` is a reading of valence, arousal and dominance; without one they follow the
    distribution's label anchors.
    """
    dist = np.clip(np.asarray(dist, dtype=np.float64), 0.0, None)
    dist = dist / dist.sum()
    # the rest on plain floats: the same double arithmetic without numpy's per-call cost on
    # seven numbers (four levels per request)
    valence, arousal, dominance = (_unit_range(v) for v in (
        dist @ VAD if vad is None else np.asarray(vad, dtype=np.float64)).tolist())
    p = dist.tolist()
    order = sorted(range(len(p)), key=lambda i: -p[i])  # stable: ties keep the label order
    peak = (p[order[0]] - 1 / len(EMOTIONS)) / (1 - 1 / len(EMOTIONS))
    strength = 0.5 * peak + 0.3 * (arousal + 1) / 2 + 0.2 * abs(valence) + 0.1 * min(intensifiers, 3)
    intensity = 1 + int(round(5 * min(max(strength, 0.0), 1.0)))
    entropy = float(-(dist * np.log(dist + 1e-12)).sum() / _LOG_LABELS)
    margin = p[order[0]] - p[order[1]]
    confidence = min(max(0.5 * (1 - entropy) + 0.5 * margin, 0.0), 1.0)
    return {
        "distribution": dict(zip(EMOTIONS, p)),
        "primary": EMOTIONS[order[0]],
        "valence": valence,
        "arousal": arousal,
        "dominance": dominance,
        "intensity": intensity,
        "confidence": confidence,
    }


def _vector(level: dict[str, Any]) -> np.ndarray:
    return np.array([level["distribution"][label] for label in EMOTIONS])


def integrate(levels: dict[str, dict[str, Any]], evidence: dict[str, bool]) -> dict[str, Any]:
    """Weigh the three levels; a strong loss at other/community may reverse personal priority.

    A level is critical when it has evidence in the text, its primary is a loss emotion, loss
    emotions hold at least half its mass and its intensity is at least 4. Each critical level
    gains ``CRITICAL_SHIFT`` weight (then all weights are renormalised). The priority is
    reversed when the self level is positive (joy or trust primary) yet a critical level's
    weighted loss outweighs the self level's weighted joy: the integrated primary is then the
    strongest loss emotion of the integrated distribution.
    """
    weights = dict(BASE_WEIGHTS)
    critical = []
    for level in ("other", "community"):
        dist = _vector(levels[level])
        loss = float(dist[LOSS_INDEX].sum())
        if (evidence[level] and levels[level]["primary"] in LOSS_EMOTIONS and loss >= 0.5
                and levels[level]["intensity"] >= 4):
            critical.append((level, loss))
            weights[level] += CRITICAL_SHIFT
    total = sum(weights.values())
    weights = {k: v / total for k, v in weights.items()}
    mix = sum(weights[level] * _vector(levels[level]) for level in LEVELS)
    primary = EMOTIONS[int(np.argmax(mix))]
    self_dist = _vector(levels["self"])
    self_joy = weights["self"] * float(self_dist[POSITIVE_INDEX].sum())
    reversed_ = bool(critical) and evidence["self"] and levels["self"]["primary"] in ("joy", "trust") \
        and max(weights[level] * loss for level, loss in critical) > self_joy
    if reversed_:
        primary = EMOTIONS[int(LOSS_INDEX[np.argmax(mix[LOSS_INDEX])])]
    return {"primary": primary, "weights": weights, "critical_loss": bool(critical),
            "priority_reversed": bool(reversed_)}


# ------------------------------------------------------------------ the analyzer


@dataclass
class _Plan:
    """What one item needs: its clauses and which levels each clause speaks of."""

    clauses: list[str]
    clause_levels: list[dict[str, int]]
    intensifiers: int


class EmotionAnalyzer:
    name = "emotion"
    requires: tuple[str, ...] = ()
    stage = "red_heart"

    def __init__(self, embedder: Embedder, options: EmotionOptions | None = None,
                 memory: "UnifiedMemoryManager | None" = None):
        self.embedder = embedder
        self.options = options if options is not None else EmotionOptions()
        self._llm_weight = float(np.clip(self.options.llm_weight, 0.0, 1.0))
        checkpoint = self.options.checkpoint
        self.classifier: EmotionReader
        if checkpoint:
            self.classifier = HeadClassifier(
                heads.load("emotion", str(checkpoint), embedder.model_id, memory), str(checkpoint))
        elif uses_model(self.options.method, embedder, "analyzer_options.emotion.method"):
            self.classifier = ModelReader(embedder)
        else:
            self.classifier = prototype_classifier(embedder, int(self.options.top_k),
                                                   self.options.temperature)

    def modules(self) -> dict[str, Any]:
        if isinstance(self.classifier, HeadClassifier):
            return {"emotion_head": self.classifier.module}
        return {}

    def provenance(self) -> dict[str, str]:
        roles = {"embedder": self.embedder.model_id}
        if isinstance(self.classifier, HeadClassifier):
            roles["emotion_head"] = self.classifier.path
        return roles

    def distributions(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 7) label distributions of texts, by the configured classifier."""
        if not texts:
            return np.zeros((0, len(EMOTIONS)))
        return self.classifier.probabilities(self.embedder.encode(list(texts)))

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        if not items:
            return []
        encodings = item_encodings(self.embedder, items)
        plans = [self._plan(item.english_text) for item in items]
        whole_p, whole_vad = self.classifier.read(np.stack([e.vector for e in encodings]))
        clause_vectors = [e.clauses for e in encodings]
        stacked = np.concatenate(clause_vectors) if any(len(c) for c in clause_vectors) \
            else np.zeros((0, self.embedder.dim), dtype=np.float32)
        part_p, part_vad = self.classifier.read(stacked) if len(stacked) else (stacked, stacked)
        out, offset = [], 0
        for item, plan, p, vad, vectors in zip(items, plans, whole_p, whole_vad, clause_vectors):
            n = len(vectors)
            out.append(self._read(item, plan, p, vad, part_p[offset:offset + n], part_vad[offset:offset + n]))
            offset += n
        return out

    @staticmethod
    def _plan(text: str) -> _Plan:
        parts = [text[a:b] for a, b in clause_spans(text)]
        levels = [read_cues(c).levels for c in parts]
        return _Plan(parts, levels, read_cues(text).intensifiers)

    def _read(self, item: AnalyzerItem, plan: _Plan, text_p: np.ndarray, text_vad: np.ndarray,
              clause_p: np.ndarray, clause_vad: np.ndarray) -> dict[str, Any]:
        llm = llm_distribution(item.initial)
        w_llm = 0.0 if llm is None else self._llm_weight * informativeness(llm)
        overall = text_p if llm is None else (1 - w_llm) * text_p + w_llm * llm
        anchored = isinstance(self.classifier, (PrototypeClassifier, HeadClassifier))
        levels, evidence = {}, {}
        for level in LEVELS:
            weights = np.array([cl[level] for cl in plan.clause_levels], dtype=np.float64)
            evidence[level] = bool(weights.sum() > 0)
            if evidence[level]:
                dist = weights @ clause_p / weights.sum()
                if llm is not None:
                    dist = (1 - w_llm / 2) * dist + (w_llm / 2) * llm
                vad = None if anchored else weights @ clause_vad / weights.sum()
                mentioned = [c for c, cl in zip(plan.clauses, plan.clause_levels) if cl[level]]
                levels[level] = describe(dist, read_cues(" ".join(mentioned)).intensifiers, vad)
            else:
                levels[level] = describe(overall, plan.intensifiers, None if anchored else text_vad)
                levels[level]["confidence"] *= 0.5  # nothing in the text speaks of this level
        result = describe(overall, plan.intensifiers, None if anchored else text_vad)
        result["levels"] = levels
        result["integrated"] = integrate(levels, evidence)
        return result
