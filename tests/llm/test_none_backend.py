"""The offline backend: deterministic, networkless, labelled as templated."""

from __future__ import annotations

from redheart_core.llm.backend import LLMRequest, Message
from redheart_core.llm.none_backend import OFFLINE_LABEL, NoneBackend, NoneOptions, cue_reading
from redheart_core.llm.reading import validate_reading
from redheart_core.schema import (
    AnalysisResult, CircuitPart, EMOTIONS, InitialAnalysis, RegretPart, RegretScenario,
)

SITUATION = "My friend asked me to lie to cover for him at work. I am afraid my boss will find out."


def test_cue_reading_is_valid_deterministic_and_follows_the_cues():
    first, second = cue_reading(SITUATION), cue_reading(SITUATION)
    assert first == second
    validate_reading(first.to_dict())
    assert list(first.emotions) == list(EMOTIONS)
    assert first.emotions["fear"] > first.emotions["joy"]
    assert {"friend", "employer"} <= set(first.stakeholders)
    assert "honesty and truthfulness" in first.ethics
    assert "lie to cover for him at work" in first.scenarios[0].action


def test_korean_text_gets_a_valid_reading():
    reading = cue_reading("친구가 회사에서 거짓말을 해 달라고 했다. 걱정된다.")
    validate_reading(reading.to_dict())
    assert reading.emotions["fear"] > 0.1 and "friend" in reading.stakeholders


async def test_summary_is_labelled_and_built_from_the_analysis():
    result = AnalysisResult("r1", SITUATION)
    result.llm.initial = cue_reading(SITUATION)
    result.regret = RegretPart(anticipated=0.31, experienced=0.2, intensity=0.4, duration_hours=5,
                               best_alternative="refuse kindly", confidence=0.7, scenarios=[
                                   RegretScenario("optimistic", "refuse kindly", 0.8, 0.0),
                                   RegretScenario("neutral", "stall", 0.5, 0.3),
                                   RegretScenario("pessimistic", "lie", 0.2, 0.6)])
    result.ethics = {"care_harm": 0.7, "fairness": 0.6, "loyalty": 0.8, "authority": 0.3,
                     "sanctity": 0.2, "liberty": 0.4}
    result.circuit = CircuitPart(final_ethical_score=0.64, confidence=0.5, reasoning_trace=[])
    backend = NoneBackend(NoneOptions())
    summary = await backend.summarize_final(result)
    assert summary.startswith(OFFLINE_LABEL)
    assert "Recommended action: refuse kindly" in summary and "0.31" in summary
    assert "loyalty (0.80) versus care_harm (0.70)" in summary and "0.64" in summary
    assert "".join([c async for c in backend.stream_summary(result)]) == summary


async def test_summary_of_an_analysis_without_scores_still_reads():
    summary = await NoneBackend().summarize_final(AnalysisResult("r1", "Short text."))
    assert "Main dilemma: Short text." in summary and "no scenario scores" in summary


async def test_complete_answers_a_schema_request_with_the_cue_reading():
    backend = NoneBackend()
    request = LLMRequest(system="s", messages=[Message("user", f"<situation>{SITUATION}</situation>")],
                         json_schema={"type": "object"})
    reply = await backend.complete(request)
    assert InitialAnalysis.from_dict(reply.data) == cue_reading(SITUATION)


def test_none_is_registered_as_a_builtin():
    from redheart_core.plugins import get_registry

    reg = get_registry().get("llm_backends", "none")
    assert reg.distribution == "redheart-core" and reg.options is NoneOptions
