"""The offline ``none`` backend: no network, no model, the same answer every time.

It reads a situation from simple word cues and writes the summary from a template filled with
the analyzers' scores, and says so in the text, so nobody mistakes it for a model's judgement.
It is the default, so ``redheart analyze`` works on a fresh install with no keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator

from ..schema import EMOTIONS, SCENARIO_TYPES, InitialAnalysis, Scenario
from .backend import LLMBackend, LLMRequest, LLMResponse

if TYPE_CHECKING:
    from ..schema import AnalysisResult

OFFLINE_LABEL = ("[offline summary: templated from the analyzers' output; no language model "
                 "is configured (llm.backend=none)]")

#: word stems that suggest each emotion (English and a few Korean words)
EMOTION_CUES: dict[str, tuple[str, ...]] = {
    "joy": ("happy", "glad", "joy", "celebrat", "excited", "proud", "delight", "기쁘", "행복"),
    "trust": ("trust", "friend", "loyal", "promise", "rely", "depend", "honest", "믿", "친구"),
    "fear": ("afraid", "fear", "scared", "worr", "anxious", "risk", "threat", "lose my", "두려", "걱정"),
    "surprise": ("surpris", "sudden", "unexpected", "shock", "discover", "found out", "놀라"),
    "sadness": ("sad", "grief", "loss", "lost", "died", "lonely", "hurt", "cry", "슬프", "상실"),
    "disgust": ("disgust", "cheat", "corrupt", "betray", "gross", "sick of", "역겹"),
    "anger": ("angry", "anger", "furious", "unfair", "resent", "outrage", "mad at", "화가", "분노"),
}

STAKEHOLDER_CUES: dict[str, tuple[str, ...]] = {
    "friend": ("friend", "친구"), "family": ("family", "parent", "mother", "father", "sister",
                                            "brother", "child", "son", "daughter", "가족"),
    "partner": ("partner", "wife", "husband", "girlfriend", "boyfriend"),
    "colleagues": ("colleague", "coworker", "co-worker", "team", "동료"),
    "employer": ("boss", "manager", "employer", "company", "work", "회사"),
    "customers": ("customer", "client", "patient", "user"),
    "community": ("community", "public", "neighbo", "society", "사회"),
}

ETHICS_CUES: dict[str, tuple[str, ...]] = {
    "honesty and truthfulness": ("lie", "lying", "honest", "truth", "deceiv", "cover", "거짓"),
    "avoiding harm to others": ("harm", "hurt", "danger", "injur", "safe", "damage"),
    "loyalty to the people close to you": ("loyal", "friend", "family", "betray"),
    "fairness to everyone affected": ("fair", "unfair", "equal", "cheat", "deserve"),
    "duties to rules and authority": ("rule", "law", "policy", "boss", "report", "illegal"),
    "personal freedom and autonomy": ("freedom", "choice", "decide", "autonomy", "force"),
}


def _hits(text: str, cues: tuple[str, ...]) -> int:
    return sum(map(text.count, cues))


def _decision(text: str) -> str:
    """The action the situation asks about, when a simple pattern finds it."""
    for pattern in (r"should i (.+?)(?:[?.!]|$)", r"asked me to (.+?)(?:[?.!,]|$)",
                    r"(?:i am|i'm) thinking (?:of|about) (.+?)(?:[?.!]|$)", r"want(?:s)? me to (.+?)(?:[?.!,]|$)"):
        match = re.search(pattern, text)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return "go ahead with what the situation asks"


def cue_reading(text: str) -> InitialAnalysis:
    """A deterministic initial reading of ``text`` from word cues."""
    lowered = text.lower()
    counts = {label: _hits(lowered, EMOTION_CUES[label]) for label in EMOTIONS}
    top = max(counts.values()) or 1
    emotions = {label: round(0.1 + 0.8 * counts[label] / top, 3) if counts[label] else 0.1
                for label in EMOTIONS}
    stakeholders = ["the person deciding"] + [name for name, cues in STAKEHOLDER_CUES.items()
                                              if _hits(lowered, cues)]
    ethics = [name for name, cues in ETHICS_CUES.items() if _hits(lowered, cues)]
    ethics = ethics or ["weighing the interests of everyone affected"]
    action = _decision(lowered)
    scenarios = [
        Scenario("optimistic", f"talk openly with everyone involved before deciding whether to {action}",
                 "the people involved understand the choice and trust holds",
                 f"respects {ethics[0]} while meeting the others' needs"),
        Scenario("neutral", "put off the decision and gather more facts first",
                 "the decision is delayed but nobody is harmed by haste",
                 "balances the competing duties at the cost of time"),
        Scenario("pessimistic", f"{action} quietly, without telling anyone",
                 "it comes out later and relationships and standing suffer",
                 f"puts {ethics[0]} at risk"),
    ]
    regret_factors = [f"having chosen against {ethics[0]}",
                      "the effect on " + (stakeholders[1] if len(stakeholders) > 1 else "others")]
    return InitialAnalysis(emotions=emotions, stakeholders=stakeholders, scenarios=scenarios,
                           ethics=ethics, regret_factors=regret_factors)


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= 200 else sentence[:197] + "..."


def templated_summary(result: "AnalysisResult") -> str:
    """The offline summary: the analyzers' numbers in the five summary parts, labelled."""
    parts = [OFFLINE_LABEL]
    parts.append(f"Main dilemma: {_first_sentence(result.translated_text or result.text)}")
    scores: dict[str, float] = {}
    if result.regret is not None:
        scores = {s.type: s.utility for s in result.regret.scenarios}
    elif result.bentham is not None:
        scores = {s.type: s.final_score for s in result.bentham.scenarios}
    actions = {s.type: s.action for s in result.llm.initial.scenarios} if result.llm.initial else {}
    if scores:
        outcomes = "; ".join(f"{kind} ({actions.get(kind, 'scenario')}): score {scores[kind]:.2f}"
                             for kind in SCENARIO_TYPES if kind in scores)
        parts.append(f"Outcomes by scenario: {outcomes}.")
    else:
        parts.append("Outcomes by scenario: no scenario scores are available.")
    if result.regret is not None and result.regret.best_alternative:
        best = result.regret.best_alternative
        reason = f"it carries the least anticipated regret ({result.regret.anticipated:.2f})"
    elif scores:
        best = max(scores, key=scores.get)
        best = actions.get(best, best)
        reason = "it has the highest hedonic score"
    else:
        best, reason = "no recommendation", "the analyzers produced no scenario scores"
    parts.append(f"Recommended action: {best}, because {reason}.")
    if result.ethics:
        ranked = sorted(result.ethics.items(), key=lambda kv: -kv[1])[:2]
        parts.append("Values in conflict: " + " versus ".join(f"{k} ({v:.2f})" for k, v in ranked) + ".")
    else:
        parts.append("Values in conflict: no moral-foundation scores are available.")
    if result.circuit is not None:
        parts.append(f"What the counterfactuals show: the integrated ethical score is "
                     f"{result.circuit.final_ethical_score:.2f} (confidence "
                     f"{result.circuit.confidence:.2f}).")
    else:
        parts.append("What the counterfactuals show: the circuit did not run.")
    return "\n".join(parts)


@dataclass
class NoneOptions:
    """The offline backend takes no settings that change its answers; ``english_only`` marks it
    as reading only English, to exercise translation without a model."""

    english_only: bool = False


class NoneBackend(LLMBackend):
    """Deterministic offline stand-in for a language model."""

    model = "offline-cues-v1"

    def __init__(self, options: NoneOptions | None = None):
        self.english_only = bool(options.english_only) if options is not None else False

    async def complete(self, request: LLMRequest) -> LLMResponse:
        prompt = request.messages[-1].content if request.messages else ""
        match = re.search(r"<situation>\s*(.*?)\s*</situation>", prompt, re.DOTALL)
        if request.json_schema is not None:
            reading = cue_reading(match.group(1) if match else prompt).to_dict()
            return LLMResponse(text=json.dumps(reading, ensure_ascii=False), model=self.model, data=reading)
        subject = _first_sentence(match.group(1)) if match else "the request"
        return LLMResponse(text=f"{OFFLINE_LABEL} No written answer about {subject}.", model=self.model)

    async def analyze_initial(self, text: str) -> InitialAnalysis:
        return cue_reading(text)

    async def summarize_final(self, result: "AnalysisResult") -> str:
        return templated_summary(result)

    async def stream_summary(self, result: "AnalysisResult") -> AsyncIterator[str]:  # type: ignore[override]
        """The templated summary a line at a time, as a model would stream it."""
        for line in templated_summary(result).splitlines(keepends=True):
            yield line


def build(options: NoneOptions) -> NoneBackend:
    return NoneBackend(options)
