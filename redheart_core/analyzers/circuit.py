"""The emotion-ethics-regret circuit: seven stages that integrate every analysis into one score.

1. experience: recall close past decisions from the experience store (cosine >= threshold);
2. stakeholders: who is affected (the LLM's list, else who the text speaks of);
3. counterfactuals: the Bentham scores of the alternatives;
4. emotion: the three-level integration (critical loss, priority reversal);
5. ethics: the moral-foundation reading turned into an ethical alignment in 0..1;
6. Bentham: the situation's final hedonic score;
7. regret: one minus the anticipated regret.

With the Red Heart model (``method: model``, the default) ``final_ethical_score`` is the
acceptability head's probability that people would find the course acceptable (ETHICS
commonsense), moved in logit units by the situation's hedonic utility and by past decisions
(``MODEL_WEIGHTS``): the other components inform the trace and the confidence without washing
the learned judgement out. ``method: heuristic`` (or an embedder without heads) is the earlier
weighted mean of the component scores (Bentham .35, ethics .25, regret .2, emotion .1,
experience .1; without matches the experience weight is spread over the others), each in 0..1.

``confidence`` is the component confidences' mean times their agreement (one minus twice the
components' standard deviation, floored at 0); under the model, averaged with how decided the
acceptability head is (``|2p - 1|``). The decision is stored back into the experience store (the
caller's namespace) once the whole batch is done. Every step leaves a line in ``reasoning_trace``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..schema import FOUNDATIONS, LEVELS
from .base import AnalyzerItem
from .embedder import Embedder, item_vectors
from .options import CircuitOptions, uses_model
from .experience import Decision, ExperienceStore, Match
from .text_cues import read_cues

WEIGHTS = {"bentham": 0.35, "ethics": 0.25, "regret": 0.2, "emotion": 0.1, "experience": 0.1}
#: under the model: logit-unit weights of the utility (its centred score) and of the pull of
#: past decisions (towards their similarity-weighted score) on the acceptability logit
MODEL_WEIGHTS = {"utility": 0.25, "experience": 0.1}
#: foundations whose salience, under a painful situation, counts against the proposed course
HARM_FOUNDATIONS = ("care_harm", "fairness", "sanctity", "liberty")


def ethical_alignment(ethics: dict[str, float], valence: float) -> float:
    """0..1: how well the course sits with the foundations at stake.

    The salience of the foundations at stake (mean of the three highest, mapped from 0.1..0.9 to
    0..1) swings the score away from 0.5 in the direction of the integrated emotional tone.
    """
    salience = sorted(((ethics[f] - 0.1) / 0.8 for f in FOUNDATIONS), reverse=True)[:3]
    at_stake = float(np.mean(salience))
    return float(np.clip(0.5 + 0.5 * np.clip(valence, -1, 1) * at_stake, 0.0, 1.0))


def logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def model_score(acceptability: float, utility: float, prior: float | None) -> float:
    """The final ethical score under the model: the acceptability logit, moved by the utility
    and pulled towards the experience prior (see ``MODEL_WEIGHTS``)."""
    z = logit(acceptability) + MODEL_WEIGHTS["utility"] * utility
    if prior is not None:
        z += MODEL_WEIGHTS["experience"] * (logit(prior) - z)
    return float(1 / (1 + np.exp(-z)))


def experience_prior(matches: list[Match]) -> float | None:
    if not matches:
        return None
    sims = np.array([max(m.similarity, 0.0) for m in matches])
    scores = np.array([m.final_ethical_score for m in matches])
    return float(np.clip((sims @ scores) / sims.sum(), 0.0, 1.0)) if sims.sum() > 0 else None


class CircuitAnalyzer:
    name = "circuit"
    requires: tuple[str, ...] = ("emotion", "bentham", "ethics", "regret")
    stage = "circuit"

    def __init__(self, embedder: Embedder, store: ExperienceStore, options: Any = None,
                 top_k: int = 5, threshold: float = 0.75):
        self.embedder = embedder
        self.store = store
        self.options = options if options is not None else CircuitOptions()
        self.top_k = int(self.options.top_k if self.options.top_k is not None else top_k)
        self.threshold = float(self.options.threshold if self.options.threshold is not None else threshold)
        self.model = uses_model(self.options.method, embedder, "analyzer_options.circuit.method")

    def provenance(self) -> dict[str, str]:
        return {"embedder": self.embedder.model_id}

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        vectors = item_vectors(self.embedder, items)
        readings = self.embedder.read(vectors) if self.model else None
        found = self.store.search_many(list(vectors), self.embedder.model_id, self.top_k,
                                       self.threshold, namespaces=[item.namespace for item in items])
        outputs = [self.analyze(item, matches, None if readings is None else
                                (float(readings.acceptability[i]), float(readings.utility[i])))
                   for i, (item, matches) in enumerate(zip(items, found))]
        if self.options.store:  # once the whole batch is done, in one transaction: a batch that
            # fails and is split and retried stores nothing twice
            self.store.add_many([self._decision(item, vector, out)
                                 for item, vector, out in zip(items, vectors, outputs)])
        return outputs

    def _decision(self, item: AnalyzerItem, vector: np.ndarray, output: dict[str, Any]) -> Decision:
        bentham, regret = item.results["bentham"], item.results["regret"]
        return Decision(item.text, vector, output["final_ethical_score"], self.embedder.model_id,
                        item.namespace, {"request_id": item.request_id, "language": item.language,
                                         "emotion": item.results["emotion"]["integrated"]["primary"],
                                         "bentham": bentham["final_score"],
                                         "regret": regret["anticipated"]})

    def analyze(self, item: AnalyzerItem, matches: list[Match],
                judged: tuple[float, float] | None = None) -> dict[str, Any]:
        """One item's circuit, from its past decisions (``matches``, looked up for the whole
        batch); ``judged`` is the model's (acceptability, centred utility)."""
        trace: list[str] = []
        emotion, bentham = item.results["emotion"], item.results["bentham"]
        ethics, regret = item.results["ethics"], item.results["regret"]

        prior = experience_prior(matches)
        if matches:
            trace.append(f"1 experience: {len(matches)} similar past decision(s), best similarity "
                         f"{matches[0].similarity:.2f}, similarity-weighted score {prior:.3f}")
        else:
            trace.append(f"1 experience: no past decision with similarity >= {self.threshold:.2f}")

        trace.append("2 stakeholders: " + self._stakeholders(item))

        alternatives = ", ".join(f"{s['type']} {s['final_score']:.3f}" for s in bentham["scenarios"])
        trace.append(f"3 counterfactuals: {alternatives or 'none'}; best alternative: "
                     f"{regret['best_alternative']}")

        integrated = emotion["integrated"]
        weights = integrated["weights"]
        valence = sum(weights[lv] * emotion["levels"][lv]["valence"] for lv in LEVELS)
        line = (f"4 emotion: integrated primary {integrated['primary']} (self {weights['self']:.2f}, "
                f"other {weights['other']:.2f}, community {weights['community']:.2f}), "
                f"tone {valence:+.2f}")
        if integrated["critical_loss"]:
            line += "; critical loss at the other/community level"
        if integrated["priority_reversed"]:
            line += "; priority reversed: that loss outweighs personal joy"
        trace.append(line)

        alignment = ethical_alignment(ethics, valence) if judged is None else judged[0]
        top = sorted(FOUNDATIONS, key=lambda f: -ethics[f])[:2]
        judgement = (f"alignment {alignment:.3f}" if judged is None else
                     f"people would find it acceptable with probability {alignment:.3f} "
                     "(acceptability head, ETHICS commonsense)")
        trace.append(f"5 ethics: most at stake {top[0]} {ethics[top[0]]:.2f} and {top[1]} "
                     f"{ethics[top[1]]:.2f}; {judgement}")
        trace.append(f"6 bentham: final score {bentham['final_score']:.3f} (base {bentham['base_score']:.3f})")
        trace.append(f"7 regret: anticipated {regret['anticipated']:.3f}, lasting about "
                     f"{regret['duration_hours']:.0f} h")

        components = {"bentham": bentham["final_score"], "ethics": alignment,
                      "regret": 1.0 - regret["anticipated"], "emotion": (valence + 1) / 2}
        if prior is not None:
            components["experience"] = prior
        agreement = max(0.0, 1.0 - 2.0 * float(np.std(list(components.values()))))
        base_conf = float(np.mean([emotion["confidence"], bentham["confidence"], regret["confidence"]]))
        confidence = min(max(base_conf * agreement, 0.0), 1.0)
        if judged is None:
            total = sum(WEIGHTS[k] for k in components)
            score = float(np.clip(sum(WEIGHTS[k] * v for k, v in components.items()) / total, 0.0, 1.0))
        else:
            score = model_score(judged[0], judged[1], prior)
            confidence = min(max(0.5 * abs(2 * judged[0] - 1) + 0.5 * confidence, 0.0), 1.0)
        trace.append(f"integration: final ethical score {score:.3f}, confidence {confidence:.2f} "
                     f"from {', '.join(f'{k} {v:.2f}' for k, v in components.items())}")

        return {"final_ethical_score": score, "confidence": confidence, "reasoning_trace": trace,
                "experience_matches": [m.to_dict() for m in matches]}

    @staticmethod
    def _stakeholders(item: AnalyzerItem) -> str:
        if item.initial is not None and item.initial.stakeholders:
            names = [s for s in item.initial.stakeholders if isinstance(s, str) and s.strip()]
            if names:
                return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "") + " (LLM reading)"
        levels = read_cues(item.english_text).levels
        spoken = [lv for lv in LEVELS if levels[lv]]
        return ", ".join(spoken) + " (from the text)" if spoken else "none named in the text"
