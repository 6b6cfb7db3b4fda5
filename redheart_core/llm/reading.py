"""The initial reading and the final summary, built on any backend's ``complete``.

Every backend gets the same prompts, the same JSON schema, the same tolerant parsing (a tool
call's input, a JSON-mode reply, a fenced block, or the first JSON object in prose), the same
validation against the canonical labels, and the same single repair re-ask that shows the model
what was wrong. After that the stage fails with :class:`LLMOutputError`, and the pipeline
records it while the analyzers go on with the text alone.
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..schema import EMOTIONS, SCENARIO_TYPES, InitialAnalysis, Scenario
from .messages import LLMRequest, LLMResponse, Message
from .errors import LLMOutputError
from .usage import record_usage

if TYPE_CHECKING:
    from ..schema import AnalysisResult
    from .backend import LLMBackend

#: token budgets of the two calls (a backend's ``max_tokens`` option caps them)
INITIAL_MAX_TOKENS = 2048
SUMMARY_MAX_TOKENS = 1024
#: how much of an unusable reply is echoed back in the repair re-ask
REPAIR_ECHO_CHARS = 4000

_STRING_LIST = {"type": "array", "items": {"type": "string"}}

#: JSON schema of the initial reading. Kept within what OpenAI's strict structured outputs
#: accept (every property required, no additional properties, no numeric bounds), so one schema
#: serves a forced tool call, ``response_format`` and the prompt; bounds are checked here.
INITIAL_READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "emotions": {
            "type": "object",
            "description": "Intensity of each of the seven emotions in the situation, each 0 to 1.",
            "properties": {label: {"type": "number"} for label in EMOTIONS},
            "required": list(EMOTIONS),
            "additionalProperties": False,
        },
        "stakeholders": {**_STRING_LIST, "description": "Everyone the decision affects."},
        "scenarios": {
            "type": "array",
            "description": "Exactly three scenarios: one optimistic, one neutral, one pessimistic.",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": list(SCENARIO_TYPES)},
                    "action": {"type": "string"},
                    "outcome": {"type": "string"},
                    "ethical_implications": {"type": "string"},
                },
                "required": ["type", "action", "outcome", "ethical_implications"],
                "additionalProperties": False,
            },
        },
        "ethics": {**_STRING_LIST, "description": "The ethical considerations at stake."},
        "regret_factors": {**_STRING_LIST, "description": "What the person might come to regret."},
    },
    "required": ["emotions", "stakeholders", "scenarios", "ethics", "regret_factors"],
    "additionalProperties": False,
}

#: bounds of the grammar-constrained reading: long enough for a real answer, short enough that
#: a small model caught in a loop still closes the JSON within its token budget
MAX_LIST_ITEMS = 5
MAX_ITEM_CHARS = 80
MAX_SCENARIO_FIELD_CHARS = 160
#: the intensities a grammar-constrained reading may give an emotion: tenths from 0 to 1, as an
#: ``enum`` because grammar engines enforce enums but not all of them enforce numeric bounds
#: (llama.cpp's schema converter ignores ``minimum``/``maximum`` on numbers)
EMOTION_STEPS = (0, *(round(tenth / 10, 1) for tenth in range(1, 10)), 1)


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with what a grammar engine enforces token by token but vendors' strict modes
    reject (enums of numbers, length bounds, ``prefixItems``): every emotion a tenth from 0 to 1
    (:data:`EMOTION_STEPS`), exactly the three scenarios in the order optimistic, neutral,
    pessimistic, non-empty bounded strings and lists."""
    bounded = copy.deepcopy(schema)
    props = bounded["properties"]
    for emotion in props["emotions"]["properties"].values():
        emotion.update(enum=list(EMOTION_STEPS))
    scenario = props["scenarios"]["items"]
    for key in ("action", "outcome", "ethical_implications"):
        scenario["properties"][key].update(minLength=1, maxLength=MAX_SCENARIO_FIELD_CHARS)

    def of_type(kind: str) -> dict[str, Any]:
        one = copy.deepcopy(scenario)
        one["properties"]["type"] = {"type": "string", "const": kind}
        return one

    props["scenarios"] = {**{k: v for k, v in props["scenarios"].items() if k != "items"},
                          "prefixItems": [of_type(kind) for kind in SCENARIO_TYPES], "items": False,
                          "minItems": len(SCENARIO_TYPES), "maxItems": len(SCENARIO_TYPES)}
    for key in ("stakeholders", "ethics", "regret_factors"):
        props[key].update(minItems=1, maxItems=MAX_LIST_ITEMS)
        props[key]["items"] = {"type": "string", "minLength": 1, "maxLength": MAX_ITEM_CHARS}
    return bounded


#: The reading schema for constrained decoding (the local backend; any grammar engine): the
#: same fields as :data:`INITIAL_READING_SCHEMA`, plus the bounds that one leaves to
#: :func:`validate_reading`, so that every constrained reply passes validation.
BOUNDED_READING_SCHEMA: dict[str, Any] = _bounded(INITIAL_READING_SCHEMA)

INITIAL_SYSTEM = (
    "You are the first reader in an ethical and emotional decision-analysis system. "
    "Read the situation and describe it as structured data only: no advice yet. "
    "Answer with one JSON object and nothing else."
)

INITIAL_PROMPT = """Situation:
<situation>
{text}
</situation>

Return one JSON object with exactly these fields:
- "emotions": an object giving each of the seven emotions {labels} a number from 0 to 1
  (how strongly it is present in the situation).
- "stakeholders": a list of the people or groups the decision affects.
- "scenarios": exactly three objects, one of each "type" {types}, each with "action" (what the
  person does), "outcome" (what follows) and "ethical_implications".
- "ethics": a list of the ethical considerations at stake.
- "regret_factors": a list of what the person might come to regret.

JSON schema:
{schema}"""

REPAIR_PROMPT = """Your reply could not be used: {problems}

Reply again with only the corrected JSON object, following the schema exactly."""

SUMMARY_SYSTEM = (
    "You are the final writer in an ethical and emotional decision-analysis system. You get a "
    "situation, a first reading of it and the scores of several analyzers. Write a clear, "
    "balanced summary for the person facing the decision, in plain prose."
)

SUMMARY_PROMPT = """Situation:
<situation>
{text}
</situation>

Analysis:
{analysis}

Write the summary with these parts, each a short paragraph:
1. The main dilemma.
2. The likely outcome of each scenario (optimistic, neutral, pessimistic).
3. The recommended action and the reasons for it.
4. The values in conflict.
5. What the counterfactual scenarios and anticipated regret show."""


# ------------------------------------------------------------------ parsing


class ReadingError(ValueError):
    """A reply that is not a valid initial reading; ``problems`` lists each thing wrong."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(response: LLMResponse) -> Any:
    """The JSON value a reply carries: a tool call's input, the whole text, a fenced block,
    or the first JSON object inside prose."""
    if response.data is not None:
        return response.data
    text = (response.text or "").strip()
    if not text:
        raise ReadingError(["the reply was empty"])
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip())
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ReadingError(["the reply holds no JSON object (expected one JSON object, "
                        "optionally in a ```json fenced block)"])


def _string_list(data: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"'{key}' must be a list of strings, got {_shape(value)}")
        return []
    return [v.strip() for v in value if v.strip()]


def _shape(value: Any) -> str:
    if value is None:
        return "nothing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_reading(data: Any) -> InitialAnalysis:
    """Check a parsed reply against the schema and the canonical label sets.

    Raises :class:`ReadingError` listing every problem at once, so a repair re-ask can fix them
    all. Emotion labels are matched case-insensitively; unknown top-level fields are ignored.
    """
    if not isinstance(data, dict):
        raise ReadingError([f"the reply must be a JSON object, got {_shape(data)}"])
    problems: list[str] = []
    missing = [k for k in INITIAL_READING_SCHEMA["required"] if k not in data]
    if missing:
        problems.append(f"missing field(s) {', '.join(repr(k) for k in missing)}")

    emotions: dict[str, float] = {}
    raw = data.get("emotions")
    if isinstance(raw, dict):
        given = {str(k).strip().lower(): v for k, v in raw.items()}
        unknown = sorted(set(given) - set(EMOTIONS))
        absent = [e for e in EMOTIONS if e not in given]
        if unknown:
            problems.append(f"unknown emotion label(s) {', '.join(unknown)}; "
                            f"use exactly {', '.join(EMOTIONS)}")
        if absent:
            problems.append(f"'emotions' lacks {', '.join(absent)}")
        for label in EMOTIONS:
            value = given.get(label)
            if label not in given:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                problems.append(f"emotion {label!r} must be a number from 0 to 1, got {_shape(value)}")
            else:
                emotions[label] = float(value)
    elif "emotions" in data:
        problems.append(f"'emotions' must be an object of the seven labels, got {_shape(raw)}")

    scenarios: list[Scenario] = []
    raw = data.get("scenarios")
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                problems.append(f"scenarios[{i}] must be an object, got {_shape(item)}")
                continue
            kind = str(item.get("type", "")).strip().lower()
            if kind not in SCENARIO_TYPES:
                problems.append(f"scenarios[{i}].type must be one of {', '.join(SCENARIO_TYPES)}, "
                                f"got {_shape(item.get('type'))}")
            fields = {}
            for key in ("action", "outcome", "ethical_implications"):
                value = item.get(key)
                if not isinstance(value, str) or not value.strip():
                    problems.append(f"scenarios[{i}].{key} must be a non-empty string, got {_shape(value)}")
                fields[key] = value.strip() if isinstance(value, str) else ""
            scenarios.append(Scenario(type=kind, **fields))
        kinds = sorted(s.type for s in scenarios)
        if len(raw) != len(SCENARIO_TYPES) or kinds != sorted(SCENARIO_TYPES):
            problems.append(f"'scenarios' must hold exactly one each of {', '.join(SCENARIO_TYPES)}, "
                            f"got types {[s.type for s in scenarios]}")
    elif "scenarios" in data:
        problems.append(f"'scenarios' must be a list, got {_shape(raw)}")

    lists = {key: _string_list(data, key, problems) if key in data else []
             for key in ("stakeholders", "ethics", "regret_factors")}
    if problems:
        raise ReadingError(problems)
    order = {t: i for i, t in enumerate(SCENARIO_TYPES)}
    scenarios.sort(key=lambda s: order[s.type])
    return InitialAnalysis(emotions=emotions, scenarios=scenarios, **lists)


def parse_reading(response: LLMResponse) -> InitialAnalysis:
    """A reply turned into a validated :class:`InitialAnalysis`, or :class:`ReadingError`."""
    return validate_reading(extract_json(response))


# ------------------------------------------------------------------ requests


def initial_request(text: str) -> LLMRequest:
    prompt = INITIAL_PROMPT.format(
        text=text,
        labels=", ".join(EMOTIONS),
        types=", ".join(SCENARIO_TYPES),
        schema=json.dumps(INITIAL_READING_SCHEMA, separators=(",", ":")),
    )
    return LLMRequest(system=INITIAL_SYSTEM, messages=[Message("user", prompt)],
                      max_tokens=INITIAL_MAX_TOKENS, json_schema=INITIAL_READING_SCHEMA,
                      schema_name="initial_reading", bounded_schema=BOUNDED_READING_SCHEMA)


def repair_request(first: LLMRequest, reply: LLMResponse, error: ReadingError) -> LLMRequest:
    """The first request plus the unusable reply and what was wrong with it."""
    echoed = json.dumps(reply.data, ensure_ascii=False) if reply.data is not None else reply.text
    echoed = (echoed or "(empty reply)")[:REPAIR_ECHO_CHARS]
    messages = [*first.messages, Message("assistant", echoed),
                Message("user", REPAIR_PROMPT.format(problems=error))]
    return LLMRequest(system=first.system, messages=messages, max_tokens=first.max_tokens,
                      temperature=first.temperature, json_schema=first.json_schema,
                      schema_name=first.schema_name, bounded_schema=first.bounded_schema)


async def analyze_initial(backend: "LLMBackend", text: str) -> InitialAnalysis:
    """The model's structured first reading of ``text``, with one repair re-ask."""
    request = initial_request(text)
    reply = await backend.complete(request)
    record_usage(reply.usage)
    try:
        return parse_reading(reply)
    except ReadingError as first_error:
        repair = repair_request(request, reply, first_error)
    reply = await backend.complete(repair)
    record_usage(reply.usage)
    try:
        return parse_reading(reply)
    except ReadingError as error:
        raise LLMOutputError(f"{backend.name}: the initial reading did not match the schema "
                             f"after one repair re-ask: {error}") from None


def describe_analysis(result: "AnalysisResult") -> str:
    """The analysis as compact JSON for the summary prompt: only what a writer needs."""
    data: dict[str, Any] = {}
    if result.llm.initial is not None:
        data["initial_reading"] = result.llm.initial.to_dict()
    if result.emotion is not None:
        data["emotion"] = {"primary": result.emotion.primary,
                           "distribution": _rounded(result.emotion.distribution),
                           "integrated_primary": result.emotion.integrated.primary,
                           "critical_loss": result.emotion.integrated.critical_loss}
    if result.bentham is not None:
        data["bentham"] = {"final_score": round(result.bentham.final_score, 3),
                           "scenarios": [s.to_dict() for s in result.bentham.scenarios]}
    if result.ethics is not None:
        data["moral_foundations"] = _rounded(result.ethics)
    if result.regret is not None:
        data["regret"] = {"anticipated": round(result.regret.anticipated, 3),
                          "best_alternative": result.regret.best_alternative,
                          "scenarios": [s.to_dict() for s in result.regret.scenarios]}
    if result.surd is not None:
        data["surd_unique_bits"] = _rounded(result.surd.unique)
    if result.circuit is not None:
        data["circuit"] = {"final_ethical_score": round(result.circuit.final_ethical_score, 3),
                           "confidence": round(result.circuit.confidence, 3),
                           "reasoning": result.circuit.reasoning_trace[:10]}
    for name, extra in result.extras.items():
        data[name] = extra
    if result.errors:
        data["unavailable"] = [f"{e.stage}: {e.type}" for e in result.errors]
    return json.dumps(data, ensure_ascii=False, indent=1, default=str)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 3) for k, v in values.items()}


def summary_request(result: "AnalysisResult") -> LLMRequest:
    text = result.translated_text or result.text
    prompt = SUMMARY_PROMPT.format(text=text, analysis=describe_analysis(result))
    return LLMRequest(system=SUMMARY_SYSTEM, messages=[Message("user", prompt)],
                      max_tokens=SUMMARY_MAX_TOKENS)


async def summarize_final(backend: "LLMBackend", result: "AnalysisResult") -> str:
    """The model's written summary of the finished analysis."""
    reply = await backend.complete(summary_request(result))
    record_usage(reply.usage)
    summary = (reply.text or "").strip()
    if not summary:
        raise LLMOutputError(f"{backend.name}: the final summary was empty")
    return summary


async def stream_summary(backend: "LLMBackend", result: "AnalysisResult") -> AsyncIterator[str]:
    """The final summary as the model writes it; the chunks concatenate to the summary.

    Leading whitespace is dropped so the concatenation matches :func:`summarize_final`'s text
    at the start; a stream that yields nothing but whitespace is an :class:`LLMOutputError`.
    """
    started = False
    async for chunk in backend.stream_complete(summary_request(result)):
        if not started:
            chunk = chunk.lstrip()
            if not chunk:
                continue
            started = True
        yield chunk
    if not started:
        raise LLMOutputError(f"{backend.name}: the final summary was empty")
