"""Korean, honestly: the built-in ``llm`` translator through the real Anthropic and OpenAI SDKs
against the loopback stand-ins, and what an untranslated Korean text gets instead."""

from __future__ import annotations

import json

import pytest

from redheart_core import Pipeline, load_config
from redheart_core.errors import ConfigError
from redheart_core.pipeline.caveats import UNREAD_CONFIDENCE_SCALE
from redheart_core.testing.standin_servers import SAMPLE_READING
from redheart_plugins_claude.standin import AnthropicStandin
from redheart_plugins_openai.standin import OpenAIStandin

KEY = "sk-test-DO-NOT-LEAK-ko41"
KOREAN = "회사 회계 장부를 조작하라는 지시를 받았다. 거부하면 해고될 수도 있다."
ENGLISH = "I was ordered to falsify the company's accounts. If I refuse, I may be fired."
SUMMARY = "Refuse: falsifying accounts harms everyone who relies on them."
SERVERS = {"claude": AnthropicStandin, "openai": OpenAIStandin}


def translating_model(name: str):
    """A stand-in model: translates when asked to translate, else reads and summarizes."""
    server_cls = SERVERS[name]
    analyst = server_cls.analyst(SAMPLE_READING, SUMMARY)

    def answer(request):
        body = request.json
        prompt = json.dumps(body.get("system", "")) + json.dumps(body.get("messages", []))
        if "You are a translator" in prompt and not body.get("tools"):
            return (AnthropicStandin.message(ENGLISH) if name == "claude"
                    else OpenAIStandin.completion(ENGLISH))
        return analyst(request)

    return answer


def overrides(name: str, server, *extra: str) -> list[str]:
    return [f"llm.backend={name}", f"llm.options.base_url={server.base_url}",
            f"llm.options.api_key={KEY}", *extra]


def confidences(result) -> list[float]:
    return [result.emotion.confidence, *(lvl.confidence for lvl in result.emotion.levels.values()),
            result.bentham.confidence, result.regret.confidence, result.circuit.confidence]


@pytest.mark.parametrize("name", sorted(SERVERS))
async def test_one_setting_translates_korean_through_the_configured_backend(name):
    server_cls = SERVERS[name]
    with server_cls(translating_model(name)) as server:
        cfg = load_config(overrides=overrides(name, server, "translation.translator=llm"))
        async with Pipeline.from_config(cfg) as pipe:
            result = await pipe.analyze(KOREAN)
    assert result.errors == []
    assert result.language == "ko"
    assert result.translated_text == ENGLISH
    assert not [n for n in result.notes if "low confidence" in n]
    asked = [p.json for p in server.posts if "You are a translator" in json.dumps(p.json)]
    assert len(asked) == 1 and KOREAN in json.dumps(asked[0], ensure_ascii=False)
    assert "Korean text into English" in json.dumps(asked[0])
    # the model that reads Korean gets the original; the encoder got the English
    reading = [p.json for p in server.posts if "You are a translator" not in json.dumps(p.json)]
    assert KOREAN in json.dumps(reading[0], ensure_ascii=False)
    assert KEY not in result.to_json()


async def test_untranslated_korean_gets_low_confidence_and_a_clear_note():
    cfg = load_config(files=["examples/configs/offline.yaml"])
    async with Pipeline.from_config(cfg) as pipe:
        korean = await pipe.analyze(KOREAN)
        english = await pipe.analyze(ENGLISH)
    note = next(n for n in korean.notes if n.startswith("low confidence"))
    assert "English-only encoder" in note and "translation.translator=llm" in note
    assert all(c <= UNREAD_CONFIDENCE_SCALE for c in confidences(korean))
    assert not any(n.startswith("low confidence") for n in english.notes)
    assert max(confidences(english)) > UNREAD_CONFIDENCE_SCALE
    from io import StringIO

    from rich.console import Console

    from redheart_core.report.terminal import print_report

    out = StringIO()
    print_report(korean, Console(file=out, width=100))
    assert "low confidence" in out.getvalue()


def test_the_llm_translator_refuses_a_backend_without_a_model():
    from redheart_core.runtime import Runtime

    runtime = Runtime(load_config(overrides=["translation.translator=llm"]))
    with pytest.raises(ConfigError, match="llm.backend is 'none'"):
        runtime.translator
