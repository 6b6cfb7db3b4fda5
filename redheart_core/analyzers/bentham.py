"""Bentham's hedonic calculus: 7 classic and 3 extended dimensions, six layer weights.

By default (``method: model``) the score people would give comes from the Red Heart model's
utility head, trained on ETHICS utilitarianism pairs: ``final_score`` is the logistic of the
calibrated utility of the situation, and of each counterfactual scenario, read from its own
text. The calculus below still gives the 10 dimensions, the six layers and ``base_score``, with
the utility head's hedonic tone. ``method: heuristic`` (or an embedder without heads) is the
earlier path: the calculus alone, with the emotion analysis' valence as the tone.

The computation is written on numpy arrays so that the same code scores one situation and the
thousands of perturbed situations the ``surd`` analyzer propagates. Inputs are named *factors*
read from the emotion analysis, the text's cues and the LLM's reading (:class:`Factors`);
:func:`values` turns them into the 10 dimensions, :func:`layers` into the six layer weights and
:func:`scores` into the base and final score.

Score: each dimension ``x_d`` in 0..1 is transformed (sqrt for intensity and extent, log1p for
duration and fecundity, a logistic for the rest, each mapping 0..1 onto 0..1), signed (the
classic seven carry the hedonic tone, redistribution counts for, external cost and self damage
against), weighted, and averaged; the calculus' base score is ``sigmoid(4 * average)``, and its
final score weights each dimension also by the mean of the layers it belongs to (0.75..1.25
each) and squashes the same way. Both lie in 0..1; 0.5 is neutral. Under the model the result's
``base_score`` is the calculus' layered score and ``final_score`` the utility head's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..schema import BENTHAM_DIMENSIONS, BENTHAM_LAYERS, EMOTIONS, LEVELS, LOSS_EMOTIONS, Scenario
from . import heads
from .base import AnalyzerItem
from .embedder import Embedder, item_vectors
from .options import BenthamOptions, uses_model
from .text_cues import read_cues

if TYPE_CHECKING:
    from ..memory.manager import UnifiedMemoryManager

ArrayLike = Any  # a float or a numpy array; every factor broadcasts against the others

#: per-dimension weight and sign (+1 for, -1 against; "tone" follows the hedonic tone)
WEIGHTS = {
    "intensity": (1.0, "tone"), "duration": (0.8, "tone"), "certainty": (0.7, "tone"),
    "propinquity": (0.6, "tone"), "fecundity": (0.6, "tone"), "purity": (0.6, "tone"),
    "extent": (1.0, "tone"), "external_cost": (1.0, -1.0), "redistribution_effect": (0.6, 1.0),
    "self_damage": (0.8, -1.0),
}
#: which layers weigh which dimension
LAYER_MEMBERS = {
    "intensity": ("emotional",), "duration": ("temporal",), "certainty": ("contextual", "cognitive"),
    "propinquity": ("temporal",), "fecundity": ("temporal", "cognitive"),
    "purity": ("contextual", "emotional"), "extent": ("social",),
    "external_cost": ("social", "ethical"), "redistribution_effect": ("social", "ethical"),
    "self_damage": ("ethical",),
}
SQUASH = 4.0
_LOSS = [EMOTIONS.index(e) for e in LOSS_EMOTIONS]
_POSITIVE = [EMOTIONS.index("joy"), EMOTIONS.index("trust")]

BUILTIN_SCENARIOS = (
    ("no_action", "Do nothing and let events take their course"),
    ("active_intervention", "Intervene actively to change the outcome"),
    ("partial_intervention", "Intervene in part: raise the issue and limit the harm"),
)


@dataclass(frozen=True)
class Factors:
    """What the calculus reads, each in 0..1 except ``valence`` (-1..1)."""

    valence: ArrayLike     # hedonic tone of the integrated emotion
    intensity: ArrayLike   # emotional intensity
    certainty: ArrayLike   # how sure the text is (hedging lowers it)
    extent: ArrayLike      # how many are affected (stakeholders, community mentions)
    urgency: ArrayLike     # how soon it bites (urgency cues, arousal)
    permanence: ArrayLike  # how lasting (death, loss, "forever")
    other_harm: ArrayLike  # loss felt at the other and community levels
    self_harm: ArrayLike   # loss felt at the self level
    fairness: ArrayLike    # how much the situation is about fair shares
    clarity: ArrayLike     # how clear the emotional reading is (its confidence)
    purity: ArrayLike      # how unmixed pleasure and pain are

    def clipped(self) -> "Factors":
        return Factors(**{name: _clip(getattr(self, name), -1.0 if name == "valence" else 0.0, 1.0)
                          for name in _FACTOR_NAMES})


_FACTOR_NAMES = tuple(f.name for f in fields(Factors))


def _clip(x: ArrayLike, low: float, high: float) -> ArrayLike:
    """``np.clip``, with plain ``min``/``max`` for a float (a request's own factors are floats,
    and numpy's per-call overhead would be most of their calculus)."""
    if isinstance(x, (float, int)):
        return float(min(max(x, low), high))
    return np.clip(x, low, high)


_LOGISTIC_LOW, _LOGISTIC_HIGH = 1 / (1 + np.exp(3.0)), 1 / (1 + np.exp(-3.0))
_LOGISTIC_SPAN = _LOGISTIC_HIGH - _LOGISTIC_LOW


def _logistic01(x: ArrayLike) -> ArrayLike:
    return (1 / (1 + np.exp(-6.0 * (x - 0.5))) - _LOGISTIC_LOW) / _LOGISTIC_SPAN


def _log1p01(x: ArrayLike) -> ArrayLike:
    return np.log1p((np.e - 1) * x)


TRANSFORMS = {
    "intensity": np.sqrt, "extent": np.sqrt, "duration": _log1p01, "fecundity": _log1p01,
}


def values(f: Factors) -> dict[str, ArrayLike]:
    """The 10 dimensions, each in 0..1."""
    return _values(f.clipped())


def _values(f: Factors) -> dict[str, ArrayLike]:
    """:func:`values` of factors already clipped to their ranges."""
    out = {
        "intensity": 0.5 * f.intensity + 0.5 * np.abs(f.valence),
        "duration": 0.2 + 0.6 * f.permanence + 0.2 * f.intensity,
        "certainty": f.certainty,
        "propinquity": f.urgency,
        "fecundity": 0.25 + 0.5 * f.permanence * np.abs(f.valence) + 0.25 * f.extent,
        "purity": f.purity,
        "extent": f.extent,
        "external_cost": f.other_harm * (0.5 + 0.5 * f.extent),
        "redistribution_effect": f.fairness * (0.5 + 0.5 * f.extent),
        "self_damage": f.self_harm,
    }
    return {k: np.clip(v, 0.0, 1.0) for k, v in out.items()}


def layers(f: Factors) -> dict[str, ArrayLike]:
    """The six layer weights, each in 0.75..1.25."""
    return _layers(f.clipped())


def _layers(f: Factors) -> dict[str, ArrayLike]:
    """:func:`layers` of factors already clipped to their ranges."""
    raw = {
        "contextual": f.certainty,
        "temporal": f.urgency,
        "social": f.extent,
        "ethical": np.maximum(f.other_harm, f.fairness),
        "emotional": f.intensity,
        "cognitive": f.clarity,
    }
    return {k: 0.75 + 0.5 * v for k, v in raw.items()}


def scores(vals: dict[str, ArrayLike], lays: dict[str, ArrayLike],
           valence: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """``(base_score, final_score)``, each in 0..1."""
    tone = np.clip(valence, -1.0, 1.0)
    terms = _terms(vals, tone)
    base_num = base_den = 0.0
    for dim, term in terms.items():
        base_num = base_num + WEIGHTS[dim][0] * term
        base_den += WEIGHTS[dim][0]
    base = 1 / (1 + np.exp(-SQUASH * base_num / base_den))
    return base, _layered(terms, lays)


def _terms(vals: dict[str, ArrayLike], tone: ArrayLike) -> dict[str, ArrayLike]:
    """Each dimension transformed and signed (the classic seven by the hedonic tone)."""
    out = {}
    for dim in BENTHAM_DIMENSIONS:
        sign = WEIGHTS[dim][1]
        out[dim] = TRANSFORMS.get(dim, _logistic01)(vals[dim]) * (tone if sign == "tone" else sign)
    return out


def _layered(terms: dict[str, ArrayLike], lays: dict[str, ArrayLike]) -> ArrayLike:
    """The final score: the signed terms weighted by their layers' mean, squashed."""
    final_num = final_den = 0.0
    for dim, term in terms.items():
        weight = WEIGHTS[dim][0]
        layer = sum(lays[name] for name in LAYER_MEMBERS[dim]) / len(LAYER_MEMBERS[dim])
        final_num = final_num + weight * layer * term
        final_den = final_den + weight * layer
    return 1 / (1 + np.exp(-SQUASH * final_num / final_den))


def final_score(f: Factors) -> ArrayLike:
    """The final score of (arrays of) factors: what the SURD analyzer propagates."""
    return final_score_in_range(f.clipped())


def final_score_in_range(f: Factors) -> ArrayLike:
    """:func:`final_score` of factors already within their ranges (:meth:`Factors.clipped`):
    the layered score alone, without clipping thousands of samples per request again."""
    return _layered(_terms(_values(f), f.valence), _layers(f))


# ------------------------------------------------------------------ reading factors


def _dist(level: dict[str, Any]) -> np.ndarray:
    return np.array([level["distribution"][e] for e in EMOTIONS])


def _logit(p: float) -> float:
    p = _clip(float(p), 1e-6, 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _shifted(utility: float, calculus_before: float, calculus_after: float) -> float:
    """``utility`` moved by the calculus' change, in logit units."""
    z = _logit(utility) + _logit(calculus_after) - _logit(calculus_before)
    return float(1 / (1 + np.exp(-z)))


def tone_of(final_score: float) -> float:
    """The hedonic tone (-1..1) of a utility-head final score (0..1)."""
    return _clip(2.0 * float(final_score) - 1.0, -1.0, 1.0)


def situation_factors(item: AnalyzerItem, emotion: dict[str, Any], tone: float | None = None) -> Factors:
    """The factors of one request, from its emotion analysis, cues and LLM reading; ``tone``
    (the utility head's, -1..1) replaces the emotional valence as the hedonic tone."""
    cues = read_cues(item.english_text)
    weights = emotion["integrated"]["weights"]
    levels = emotion["levels"]
    valence = sum(weights[lv] * levels[lv]["valence"] for lv in LEVELS) if tone is None else tone
    mix = sum(weights[lv] * _dist(levels[lv]) for lv in LEVELS)
    overall = _dist(emotion)
    stakeholders = len(item.initial.stakeholders) if item.initial is not None else 0
    mentions = cues.levels["other"] + 2 * cues.levels["community"]
    extent = 1 - np.exp(-max(stakeholders, mentions) / 4.0)
    other_loss = (weights["other"] * _dist(levels["other"])[_LOSS].sum()
                  + weights["community"] * _dist(levels["community"])[_LOSS].sum()) \
        / (weights["other"] + weights["community"])
    pos, neg = float(mix[_POSITIVE].sum()), float(mix[_LOSS].sum())
    return Factors(
        valence=float(valence),
        intensity=(emotion["intensity"] - 1) / 5,
        certainty=(1 - cues.hedging) * (0.5 + 0.5 * emotion["confidence"]),
        extent=float(extent),
        urgency=0.6 * cues.urgency + 0.4 * (emotion["arousal"] + 1) / 2,
        permanence=max(cues.permanence, 0.5 * float(overall[EMOTIONS.index("sadness")])),
        other_harm=float(other_loss),
        self_harm=float(_dist(levels["self"])[_LOSS].sum()) * (1.0 if cues.levels["self"] else 0.5),
        fairness=max(cues.fairness, 0.5 * float(overall[EMOTIONS.index("anger")])),
        clarity=float(emotion["confidence"]),
        purity=1 - 2 * min(pos, neg),
    ).clipped()


def scenario_factors(base: Factors, kind: str, reading: np.ndarray | None = None) -> Factors:
    """Factors of a counterfactual: a built-in kind, or an LLM scenario read as ``reading``
    (its text's emotion distribution) with its type (optimistic / neutral / pessimistic)."""
    if kind == "no_action":
        f = replace(base, valence=base.valence - 0.2 * base.urgency * base.other_harm,
                    certainty=base.certainty + 0.1, urgency=0.5 * base.urgency,
                    other_harm=base.other_harm + 0.1 * base.urgency, self_harm=0.5 * base.self_harm)
    elif kind == "active_intervention":
        f = replace(base, valence=base.valence + 0.3 * base.other_harm, certainty=base.certainty - 0.15,
                    other_harm=0.5 * base.other_harm, self_harm=base.self_harm + 0.2,
                    fairness=base.fairness + 0.2)
    elif kind == "partial_intervention":
        f = replace(base, valence=base.valence + 0.15 * base.other_harm, certainty=base.certainty - 0.05,
                    other_harm=0.75 * base.other_harm, self_harm=base.self_harm + 0.1,
                    fairness=base.fairness + 0.1)
    else:
        prior = {"optimistic": 0.2, "pessimistic": -0.2}.get(kind, 0.0)
        if reading is None:
            text_valence, loss = 0.0, float(base.other_harm)
        else:
            from .emotion import VAD

            text_valence, loss = float(reading @ VAD[:, 0]), float(reading[_LOSS].sum())
        f = replace(base, valence=0.4 * base.valence + 0.6 * text_valence + prior,
                    other_harm=0.5 * base.other_harm + 0.5 * loss)
    return f.clipped()


def scenarios_of(item: AnalyzerItem) -> list[tuple[str, str, str]]:
    """``(type, action, text to read)`` for the LLM's scenarios, or the three built-in ones
    (whose text is empty: the calculus shifts the situation's factors instead)."""
    initial = item.initial
    if initial is not None and initial.scenarios:
        scenarios = [s if isinstance(s, Scenario) else Scenario.from_dict(s) for s in initial.scenarios]
        return [(s.type, s.action, " ".join(p for p in (s.action, s.outcome, s.ethical_implications) if p))
                for s in scenarios]
    return [(kind, action, "") for kind, action in BUILTIN_SCENARIOS]


# ------------------------------------------------------------------ the analyzer


class BenthamAnalyzer(heads.OptionalHead):
    name = "bentham"
    head_kind = "bentham"
    requires: tuple[str, ...] = ("emotion",)
    stage = "red_heart"

    def __init__(self, embedder: Embedder, options: BenthamOptions | None = None,
                 memory: "UnifiedMemoryManager | None" = None):
        from .emotion import prototype_classifier

        self.embedder = embedder
        self.options = options if options is not None else BenthamOptions()
        self.model = uses_model(self.options.method, embedder, "analyzer_options.bentham.method")
        self.reader = None if self.model else prototype_classifier(embedder)
        self._load_head(memory)

    def _utilities(self, vectors: np.ndarray) -> np.ndarray:
        """Final scores (0..1) of vectors by the utility head."""
        return 1.0 / (1.0 + np.exp(-self.embedder.read(vectors).utility))

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        """Every situation and counterfactual of the batch goes through one vectorised calculus."""
        plans = [scenarios_of(item) for item in items]
        vectors = item_vectors(self.embedder, items)
        texts = [text for plan in plans for _, _, text in plan if text]
        encoded = self.embedder.encode(texts) if texts else None
        if self.model:  # each scenario's text is read by the utility head
            situation: Sequence[float | None] = self._utilities(vectors)
            readings = iter(self._utilities(encoded) if texts else [])
        else:
            situation = [None] * len(items)
            readings = iter(self.reader.probabilities(encoded) if texts else [])
        bases = [situation_factors(item, item.results["emotion"], None if u is None else tone_of(u))
                 for item, u in zip(items, situation)]
        rows: list[Factors] = list(bases)  # the situations first, then every scenario
        owners = list(range(len(items)))
        scenario_rows = []  # per item: (type, action, row, the utility head's score or None)
        for i, (plan, base) in enumerate(zip(plans, bases)):
            planned = []
            for kind, action, text in plan:
                score = None
                if self.model and text:
                    score = float(next(readings))
                    factors = replace(scenario_factors(base, kind), valence=tone_of(score))
                elif self.model:
                    factors = scenario_factors(base, kind)
                else:
                    factors = scenario_factors(base, kind, next(readings) if text else None)
                planned.append((kind, action, len(rows), score))
                rows.append(factors)
                owners.append(i)
            scenario_rows.append(planned)
        trained = np.clip(heads.run(self.head, vectors), 0.0, 1.0) if self.head is not None else None
        vals, lays, base_scores, finals = _calculus(rows, np.array(owners), trained)
        out = []
        for i, (item, utility) in enumerate(zip(items, situation)):
            base = bases[i]
            result = {"values": {d: float(vals[d][i]) for d in BENTHAM_DIMENSIONS},
                      "layers": {k: float(lays[k][i]) for k in BENTHAM_LAYERS},
                      "base_score": float(finals[i] if utility is not None else base_scores[i]),
                      "final_score": float(finals[i] if utility is None else utility)}
            result["confidence"] = _clip(
                0.5 * base.clarity + 0.3 * base.certainty + (0.2 if item.initial is not None else 0.0),
                0.0, 1.0)
            result["scenarios"] = []
            for kind, action, row, score in scenario_rows[i]:
                if utility is None:
                    score = finals[row]
                elif score is None:  # a built-in scenario: the calculus' shift, on the utility's scale
                    score = _shifted(float(utility), float(finals[i]), float(finals[row]))
                result["scenarios"].append({"type": kind, "action": action, "final_score": float(score)})
            out.append(result)
        return out


def _calculus(rows: Sequence[Factors], owners: np.ndarray,
              trained: np.ndarray | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                    np.ndarray, np.ndarray]:
    """Values, layers, base and final scores of every row at once. With ``trained`` (a head's 10
    values per situation, the first rows) each situation takes the head's values and its
    counterfactuals keep the calculus' shift from them."""
    stacked = Factors(**{f.name: np.array([getattr(r, f.name) for r in rows], dtype=np.float64)
                         for f in fields(Factors)})
    vals = values(stacked)
    if trained is not None:
        situations = len(trained)
        offset = {d: trained[:, k] - vals[d][:situations] for k, d in enumerate(BENTHAM_DIMENSIONS)}
        vals = {d: np.clip(v + offset[d][owners], 0.0, 1.0) for d, v in vals.items()}
    lays = layers(stacked)
    base, final = scores(vals, lays, stacked.valence)
    return vals, lays, np.asarray(base), np.asarray(final)
