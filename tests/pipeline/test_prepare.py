"""The prepare stage: language detection and when a translation is made."""

from __future__ import annotations

import pytest

from redheart_core.pipeline import Pipeline
from redheart_core.pipeline.stages import detect_language

KOREAN = "친구가 거짓말을 했다."
ENGLISH = "A friend told a lie."
TRANSLATED = "a friend a lie told."  # what the word table makes of KOREAN


@pytest.mark.parametrize("text, language", [
    (KOREAN, "ko"), (ENGLISH, "en"), ("회의에서 John이 내 아이디어를 가져갔다", "ko"),
    ("the meeting 회의", "en"), ("2024 12 31", "en"),
])
def test_language_is_told_by_the_share_of_hangul_letters(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize("when, english_only, analyzers, translated", [
    ("auto", True, [], True),  # the LLM reads English only
    ("auto", False, ["pt_length"], True),  # the analyzers' encoder reads English only
    ("auto", False, [], False),  # nothing here needs English
    ("always", False, [], True), ("never", True, ["pt_length"], False),
])
async def test_korean_is_translated_only_when_the_policy_asks(plugin, make_config, when, english_only,
                                                              analyzers, translated):
    cfg = make_config("translation.translator=pt_words", f"translation.when={when}",
                      analyzers=analyzers, english_only=str(english_only).lower())
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(KOREAN)
    assert result.ok and result.language == "ko"
    initial_text = next(text for kind, text, _, _ in plugin.backend.calls if kind == "initial")
    if translated:
        assert result.translated_text == TRANSLATED
        assert initial_text == (TRANSLATED if english_only else KOREAN)
        assert not any("English only" in note or "English-only" in note for note in result.notes)
    else:
        assert result.translated_text is None and initial_text == KOREAN
        assert any("LLM backend reads English only" in note for note in result.notes) == english_only
        assert any(note.startswith("low confidence") and "English-only encoder" in note
                   for note in result.notes) == bool(analyzers)


async def test_english_text_is_never_sent_to_the_translator(plugin, make_config):
    cfg = make_config("translation.translator=pt_words", "translation.when=always")
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(ENGLISH)
    assert result.translated_text is None and plugin.translated_batches == []


async def test_concurrent_korean_requests_share_one_translation_batch(plugin, make_config):
    cfg = make_config("translation.translator=pt_words", "pipeline.batch_wait_ms=50",
                      english_only="true")
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many([KOREAN] * 4)
    assert [r.translated_text for r in results] == [TRANSLATED] * 4
    assert [len(b) for b in plugin.translated_batches] == [4]


async def test_a_failed_translation_is_recorded_and_the_original_text_goes_on(plugin, make_config):
    cfg = make_config("translation.translator=pt_broken", english_only="true", analyzers=["pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(KOREAN)
    (error,) = result.errors
    assert (error.stage, error.type) == ("prepare", "OSError")
    assert "translation failed" in error.message and "model files are missing" in error.message
    assert result.translated_text is None and result.llm.summary
    assert result.extras["pt_length"]["chars"] == len(KOREAN)
