"""Parsing, validation and the single repair re-ask shared by every backend."""

from __future__ import annotations

import json

import pytest

from redheart_core.llm.backend import LLMBackend, LLMRequest, LLMResponse
from redheart_core.llm.errors import LLMOutputError
from redheart_core.llm.reading import (
    BOUNDED_READING_SCHEMA,
    INITIAL_READING_SCHEMA,
    ReadingError,
    analyze_initial,
    extract_json,
    parse_reading,
    summarize_final,
    validate_reading,
)
from redheart_core.llm.usage import usage_meter
from redheart_core.schema import EMOTIONS, AnalysisResult
from redheart_core.testing.standin_servers import SAMPLE_READING

GOOD = SAMPLE_READING


class Scripted(LLMBackend):
    """A backend that replays fixed replies and keeps the requests it got."""

    name = "scripted"

    def __init__(self, *replies: LLMResponse):
        self.replies = list(replies)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return self.replies.pop(0)


def test_schema_lists_the_seven_canonical_emotions_and_requires_every_field():
    assert INITIAL_READING_SCHEMA["properties"]["emotions"]["required"] == list(EMOTIONS)
    assert set(INITIAL_READING_SCHEMA["required"]) == set(INITIAL_READING_SCHEMA["properties"])


def test_the_bounded_schema_allows_only_emotion_values_that_validate():
    # an enum, not minimum/maximum: llama.cpp's schema converter drops numeric bounds, and a
    # small model under it once counted the emotions 1, 2, 3 ... 7
    emotions = BOUNDED_READING_SCHEMA["properties"]["emotions"]["properties"]
    steps = {value for schema in emotions.values() for value in schema["enum"]}
    assert min(steps) == 0 and max(steps) == 1 and len(steps) == 11
    for value in steps:
        validate_reading({**GOOD, "emotions": dict.fromkeys(EMOTIONS, value)})


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    "Here you go:\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nHope it helps.",
    "Sure. " + json.dumps(GOOD) + " That is my reading.",
])
def test_json_is_found_in_plain_fenced_and_prose_replies(text):
    reading = parse_reading(LLMResponse(text=text))
    assert [s.type for s in reading.scenarios] == ["optimistic", "neutral", "pessimistic"]
    assert reading.emotions["trust"] == 0.6


def test_tool_call_input_wins_over_text():
    assert extract_json(LLMResponse(text="ignored", data=GOOD)) == GOOD


def test_emotion_labels_match_case_insensitively():
    data = {**GOOD, "emotions": {k.upper(): v for k, v in GOOD["emotions"].items()}}
    assert validate_reading(data).emotions == GOOD["emotions"]


def test_every_problem_is_reported_at_once():
    bad = {**GOOD, "emotions": {"happiness": 2, **{k: 0.1 for k in EMOTIONS[1:]}},
           "scenarios": GOOD["scenarios"][:2], "stakeholders": "me"}
    with pytest.raises(ReadingError) as info:
        validate_reading(bad)
    text = str(info.value)
    assert "unknown emotion label(s) happiness" in text and "lacks joy" in text
    assert "exactly one each of optimistic, neutral, pessimistic" in text
    assert "'stakeholders' must be a list of strings" in text


def test_out_of_range_emotion_and_unknown_scenario_type_are_rejected():
    bad = json.loads(json.dumps(GOOD))
    bad["emotions"]["fear"] = 1.5
    bad["scenarios"][0]["type"] = "catastrophic"
    with pytest.raises(ReadingError, match=r"fear.*0 to 1.*|catastrophic"):
        validate_reading(bad)


def test_reply_without_json_is_a_reading_error():
    with pytest.raises(ReadingError, match="no JSON object"):
        extract_json(LLMResponse(text="I cannot answer that."))


async def test_one_repair_reask_carries_the_validation_error_and_fixes_the_reading():
    broken = {**GOOD, "scenarios": GOOD["scenarios"][:1]}
    backend = Scripted(LLMResponse(text=json.dumps(broken), usage={"input_tokens": 10, "output_tokens": 5}),
                       LLMResponse(text=json.dumps(GOOD), usage={"input_tokens": 30, "output_tokens": 7}))
    with usage_meter() as totals:
        reading = await analyze_initial(backend, "My friend asked me to lie for him.")
    assert len(reading.scenarios) == 3
    assert totals == {"input_tokens": 40, "output_tokens": 12}
    repair = backend.requests[1]
    assert [m.role for m in repair.messages] == ["user", "assistant", "user"]
    assert "exactly one each of optimistic, neutral, pessimistic" in repair.messages[-1].content
    assert repair.json_schema == INITIAL_READING_SCHEMA


async def test_a_second_unusable_reply_is_an_llm_output_error():
    backend = Scripted(LLMResponse(text="no idea"), LLMResponse(text='{"emotions": {}}'))
    with pytest.raises(LLMOutputError, match="scripted: the initial reading did not match") as info:
        await analyze_initial(backend, "text")
    assert info.value.type_name == "LLMOutputError"
    assert len(backend.requests) == 2


async def test_empty_summary_is_an_llm_output_error():
    with pytest.raises(LLMOutputError, match="summary was empty"):
        await summarize_final(Scripted(LLMResponse(text="  \n")), AnalysisResult("r1", "text"))


async def test_default_stream_complete_yields_the_completion_once_and_records_usage():
    backend = Scripted(LLMResponse(text="A summary.", usage={"output_tokens": 3}))
    with usage_meter() as totals:
        chunks = [c async for c in backend.stream_summary(AnalysisResult("r1", "text"))]
    assert chunks == ["A summary."]
    assert totals == {"output_tokens": 3}
