"""The ``marian`` translator with a tiny random MarianMT built in the session (sentencepiece
models trained in the test), loaded through the plugin's own code via the runtime."""

from __future__ import annotations

import pytest

from redheart_core.config import load_config
from redheart_core.errors import ConfigError
from redheart_core.runtime import Runtime
from redheart_core.memory.footprint import declared_modules
from redheart_core.translation import Translator

KOREAN = ["친구가 거짓말을 해 달라고 했다.", "회사에서 걱정이 많다."]


def runtime_for(path, *extra: str) -> Runtime:
    return Runtime(load_config(overrides=["translation.translator=marian", "analyzers=[]",
                                          f"translation.options.model_path={path}",
                                          "translation.options.max_length=16", *extra]))


def test_translator_is_none_unless_configured():
    assert Runtime(load_config(overrides=["analyzers=[]"])).translator is None


def test_builds_without_loading_and_loads_on_first_translation(tiny_marian):
    runtime = runtime_for(tiny_marian)
    translator = runtime.translator
    assert isinstance(translator, Translator)
    assert (translator.source, translator.target) == ("ko", "en")
    assert not translator.loaded and declared_modules(translator) == {}
    out = translator.translate_batch(KOREAN)
    assert translator.loaded
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert runtime.memory.footprints()["translator.marian"].phases == frozenset({"llm"})


def test_translations_are_cached_by_text(tiny_marian):
    translator = runtime_for(tiny_marian).translator
    first = translator.translate_batch(KOREAN)
    again = translator.translate_batch([KOREAN[1], KOREAN[0], KOREAN[1]])
    assert again == [first[1], first[0], first[1]]
    assert translator.cache_hits == 3


def test_cache_is_bounded(tiny_marian):
    translator = runtime_for(tiny_marian, "translation.options.cache_size=1").translator
    translator.translate_batch(KOREAN)
    translator.translate_batch([KOREAN[0]])
    assert translator.cache_hits == 0


def test_batched_translation_equals_one_at_a_time(tiny_marian):
    batched = runtime_for(tiny_marian, "translation.options.cache_size=0").translator.translate_batch(KOREAN)
    single = runtime_for(tiny_marian, "translation.options.cache_size=0").translator
    assert batched == [single.translate_batch([k])[0] for k in KOREAN]


def test_missing_model_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as info:
        runtime_for("/nonexistent/opus-mt-ko-en").translator
    assert info.value.key == "translation.options.model_path"


async def test_english_only_local_model_gets_korean_text_translated(tiny_marian, tiny_llama):
    from redheart_core import Pipeline

    cfg = load_config(overrides=[
        "llm.backend=local", f"llm.options.model_path={tiny_llama}", "llm.options.english_only=true",
        "llm.options.max_new_tokens=4", "translation.translator=marian",
        f"translation.options.model_path={tiny_marian}", "translation.options.max_length=16",
        "analyzers=[emotion]"])
    async with Pipeline.from_config(cfg) as pipe:
        korean = await pipe.analyze(KOREAN[0])
        english = await pipe.analyze("My friend asked me to lie.")
        translator = pipe.runtime.translator
    assert korean.language == "ko" and korean.translated_text is not None
    assert korean.translated_text == translator.translate_batch([KOREAN[0]])[0]
    assert english.language == "en" and english.translated_text is None
    assert ("llm_initial", "LLMOutputError") in [(e.stage, e.type) for e in korean.errors]
    assert korean.emotion is not None


async def test_an_api_backend_run_never_loads_the_translator(tiny_marian):
    """translation.when=auto translates only for an English-only consumer; Claude reads Korean
    and without analyzers nothing needs the English encoder."""
    from redheart_core import Pipeline
    from redheart_core.testing.standin_servers import SAMPLE_READING
    from redheart_plugins_claude.standin import AnthropicStandin

    with AnthropicStandin(AnthropicStandin.analyst(SAMPLE_READING, "Summary.")) as server:
        cfg = load_config(overrides=[
            "llm.backend=claude", f"llm.options.base_url={server.base_url}", "llm.options.api_key=k",
            "translation.translator=marian", f"translation.options.model_path={tiny_marian}",
            "analyzers=[]"])
        async with Pipeline.from_config(cfg) as pipe:
            result = await pipe.analyze(KOREAN[0])
            translator = pipe.runtime.translator
    assert result.ok and result.language == "ko" and result.translated_text is None
    assert translator is not None and not translator.loaded


async def test_a_translation_batch_that_runs_out_of_memory_is_retried_not_lost(tiny_marian):
    import torch

    from redheart_core import Pipeline

    cfg = load_config(overrides=[
        "llm.backend=none", "analyzers=[]", "translation.translator=marian", "translation.when=always",
        f"translation.options.model_path={tiny_marian}", "translation.options.max_length=16",
        "translation.options.cache_size=0"])
    async with Pipeline.from_config(cfg) as pipe:
        translator = pipe.runtime.translator
        expected = translator.translate_batch([KOREAN[0]])[0]  # loads the model
        failures = iter([True])

        def once(module, args, kwargs):
            if next(failures, False):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model = declared_modules(translator)["translator.marian"]
        handle = model.register_forward_pre_hook(once, with_kwargs=True)
        try:
            result = await pipe.analyze(KOREAN[0])
        finally:
            handle.remove()
        stats = pipe.runtime.memory.stats()
    assert result.errors == [] and result.translated_text == expected
    assert stats["oom_actions"]["retry"] == 1
