"""Streaming end to end through the real Anthropic and OpenAI SDKs, against loopback servers."""

from __future__ import annotations

import pytest

from redheart_core.config import load_config
from redheart_core.pipeline import Partial, Pipeline, Result, Token
from redheart_core.testing.standin_servers import SAMPLE_READING
from redheart_plugins_claude.standin import AnthropicStandin
from redheart_plugins_openai.standin import OpenAIStandin

SUMMARY = "Refusing kindly keeps both honesty and the friendship; lying risks both."
KEY = "sk-standin-0123456789abcdef"


@pytest.mark.parametrize("backend, server_class", [("claude", AnthropicStandin), ("openai", OpenAIStandin)])
async def test_the_summary_streams_through_the_sdk_token_by_token(backend, server_class):
    with server_class(server_class.analyst(SAMPLE_READING, SUMMARY, chunks=5, chunk_delay_s=0.01)) as server:
        cfg = load_config(overrides=[f"llm.backend={backend}", f"llm.options.base_url={server.base_url}",
                                     f"llm.options.api_key={KEY}", "analyzers=[]"])
        async with Pipeline.from_config(cfg) as pipe:
            events = [event async for event in pipe.stream("My friend asked me to lie for him.")]
    result = events[-1].result
    assert isinstance(events[-1], Result) and result.ok, result.errors
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) >= 3 and "".join(tokens) == SUMMARY == result.llm.summary
    initial = next(e for e in events if isinstance(e, Partial) and e.key == "llm.initial")
    assert initial.value["stakeholders"] == SAMPLE_READING["stakeholders"]
    assert result.llm.usage.get("output_tokens", 0) > 0
    assert KEY not in result.to_json()
