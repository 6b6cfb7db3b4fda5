"""The Claude and OpenAI backends through the real SDKs, against loopback stand-in servers.

Every test runs for both backends: retries on 429/529/500 honouring retry-after, structured
output, the repair re-ask, missing and leaked keys, concurrency, streaming.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from redheart_core.errors import ConfigError
from redheart_core.llm.errors import LLMOutputError, LLMRequestError
from redheart_core.llm.reading import BOUNDED_READING_SCHEMA, INITIAL_READING_SCHEMA, summary_request
from redheart_core.llm.usage import usage_meter
from redheart_core.schema import AnalysisResult
from redheart_core.testing.standin_servers import SAMPLE_READING as GOOD, Reply, StandinServer
from redheart_plugins_claude.standin import AnthropicStandin
from redheart_plugins_openai.standin import OpenAIStandin

KEY = "sk-test-DO-NOT-LEAK-4b1d"
SUMMARY = "Refusing kindly keeps both the friendship and your integrity. " * 3


@dataclass
class Kit:
    """What differs between the two API backends in these tests."""

    name: str
    server_cls: type[StandinServer]
    env_var: str
    overloaded: int  # the "busy" status each API uses

    def backend(self, server: StandinServer, **options: Any):
        if self.name == "claude":
            from redheart_plugins_claude import ClaudeOptions
            from redheart_plugins_claude.backend import ClaudeBackend as cls
            opts = ClaudeOptions(base_url=server.base_url, api_key=KEY, **options)
        else:
            from redheart_plugins_openai import OpenAIOptions
            from redheart_plugins_openai.backend import OpenAIBackend as cls
            opts = OpenAIOptions(base_url=server.base_url, api_key=KEY, **options)
        backend = cls(opts)
        backend.name = self.name
        return backend

    def reading_reply(self, data: Any) -> Reply:
        if self.name == "claude":
            return AnthropicStandin.message(tool_input=data)
        return OpenAIStandin.completion(json.dumps(data))

    @staticmethod
    def key_header(headers: dict[str, str]) -> str:
        return headers.get("x-api-key") or headers.get("authorization") or ""


KITS = [Kit("claude", AnthropicStandin, "ANTHROPIC_API_KEY", 529),
        Kit("openai", OpenAIStandin, "OPENAI_API_KEY", 503)]


@pytest.fixture(params=KITS, ids=lambda k: k.name)
def kit(request) -> Kit:
    return request.param


@pytest.fixture
def serve(kit: Kit):
    """``serve(*script)``: a running stand-in for the kit's API, stopped after the test."""
    started: list[StandinServer] = []

    def start(*script) -> StandinServer:
        server = kit.server_cls(*script).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def test_retries_on_429_then_overload_then_500_and_reports_what_the_server_sent(kit, serve):
    analyst = kit.server_cls.analyst(GOOD, SUMMARY)
    server = serve(kit.server_cls.error(429, "slow down", retry_after="0.01"),
                   kit.server_cls.error(kit.overloaded, "overloaded", retry_after_ms="10"),
                   kit.server_cls.error(500, "boom", retry_after_ms="10"),
                   analyst)
    backend = kit.backend(server, max_retries=3)
    started = time.perf_counter()
    with usage_meter() as usage:
        reading = await backend.analyze_initial("My friend asked me to lie to cover for him.")
        summary = await backend.summarize_final(AnalysisResult("r1", "text"))
    await backend.aclose()
    assert time.perf_counter() - started < 5
    assert [s.action for s in reading.scenarios] == ["refuse kindly", "stall", "lie"]
    assert reading.emotions == GOOD["emotions"]
    assert summary == SUMMARY.strip()
    assert backend.retries_total == 3
    assert len(server.posts) == 5
    assert usage == {"input_tokens": 50, "output_tokens": 100}
    assert all(kit.key_header(r.headers) and KEY in kit.key_header(r.headers) for r in server.posts)


async def test_retries_exhausted_is_a_request_error_naming_status_and_retries(kit, serve):
    server = serve(kit.server_cls.error(kit.overloaded, "overloaded", retry_after_ms="1"))
    backend = kit.backend(server, max_retries=2)
    with pytest.raises(LLMRequestError, match=rf"{kit.name}: HTTP {kit.overloaded} .* after 2 retries: overloaded"):
        await backend.summarize_final(AnalysisResult("r1", "text"))
    await backend.aclose()
    assert len(server.posts) == 3


async def test_structured_output_is_requested_with_the_reading_schema(kit, serve):
    server = serve(kit.server_cls.analyst(GOOD, SUMMARY))
    backend = kit.backend(server)
    await backend.analyze_initial("text")
    await backend.aclose()
    body = server.posts[0].json
    if kit.name == "claude":
        assert body["tools"][0]["input_schema"] == INITIAL_READING_SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "initial_reading"}
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"] == INITIAL_READING_SCHEMA


async def test_malformed_structure_gets_one_repair_then_an_llm_output_error(kit, serve):
    broken = {**GOOD, "emotions": {"happiness": 0.9}, "scenarios": GOOD["scenarios"][:2]}
    server = serve(kit.reading_reply(broken))
    backend = kit.backend(server)
    with pytest.raises(LLMOutputError, match=r"after one repair re-ask: .*unknown emotion label\(s\) happiness"):
        await backend.analyze_initial("text")
    await backend.aclose()
    assert len(server.posts) == 2
    repair = json.dumps(server.posts[1].json["messages"][-1])
    assert "unknown emotion label(s) happiness" in repair and "exactly one each of" in repair


async def test_a_body_that_is_not_json_is_an_llm_output_error_not_a_crash(kit, serve):
    server = serve(Reply(200, body="<html>gateway says hello</html>"))
    backend = kit.backend(server)
    with pytest.raises(LLMOutputError):
        await backend.analyze_initial("text")
    await backend.aclose()


def test_missing_key_is_a_config_error_naming_the_variable(kit, monkeypatch):
    from redheart_core.config import load_config
    from redheart_core.runtime import Runtime

    monkeypatch.delenv(kit.env_var, raising=False)
    runtime = Runtime(load_config(overrides=[f"llm.backend={kit.name}", "analyzers=[]"]))
    with pytest.raises(ConfigError) as info:
        runtime.llm
    assert info.value.key == "llm.options.api_key"
    assert kit.env_var in str(info.value)


def test_key_comes_from_the_environment_by_default(kit, monkeypatch):
    from redheart_core.config import load_config
    from redheart_core.runtime import Runtime

    monkeypatch.setenv(kit.env_var, KEY)
    backend = Runtime(load_config(overrides=[f"llm.backend={kit.name}", "analyzers=[]"])).llm
    assert backend.name == kit.name and backend._key == KEY


async def test_key_never_appears_in_logs_or_errors(kit, serve, caplog):
    caplog.set_level(logging.DEBUG)
    server = serve(kit.server_cls.error(429, retry_after_ms="1"),
                   kit.server_cls.analyst(GOOD, SUMMARY))
    backend = kit.backend(server)
    await backend.analyze_initial("text")
    [c async for c in backend.stream_complete(summary_request(AnalysisResult("r1", "text")))]
    server.script(kit.server_cls.error(401, f"invalid key {KEY}"))
    with pytest.raises(LLMRequestError) as info:
        await backend.summarize_final(AnalysisResult("r1", "text"))
    await backend.aclose()
    assert KEY not in str(info.value) and kit.env_var in str(info.value)
    server.script(kit.server_cls.error(400, f"unsupported request from key {KEY}"))
    with pytest.raises(LLMRequestError) as info:
        await backend.summarize_final(AnalysisResult("r1", "text"))
    assert KEY not in str(info.value) and "from key ***" in str(info.value)
    debug_lines = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug_lines) > 5  # the SDK did log its requests at DEBUG
    assert KEY not in caplog.text
    assert all(KEY not in r.getMessage() for r in caplog.records)


async def test_client_side_concurrency_limit_holds(kit, serve):
    in_flight, peak, lock = [0], [0], threading.Lock()
    reply = kit.server_cls.analyst(GOOD, SUMMARY)

    def slow(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return reply(request)

    server = serve(slow)
    backend = kit.backend(server, max_concurrency=2)
    summaries = await asyncio.gather(*(backend.summarize_final(AnalysisResult(f"r{i}", "t")) for i in range(6)))
    await backend.aclose()
    assert summaries == [SUMMARY.strip()] * 6
    assert peak[0] == 2


async def test_stream_complete_yields_the_servers_chunks_in_order_and_records_usage(kit, serve):
    server = serve(kit.server_cls.error(429, retry_after_ms="1"), kit.server_cls.analyst(GOOD, SUMMARY, chunks=5))
    backend = kit.backend(server)
    with usage_meter() as usage:
        chunks = [c async for c in backend.stream_summary(AnalysisResult("r1", "text"))]
    await backend.aclose()
    assert len(chunks) == 5 and "".join(chunks) == SUMMARY
    assert server.posts[-1].json["stream"] is True
    assert usage == {"input_tokens": 25, "output_tokens": 50}
    assert backend.retries_total == 1


async def test_first_chunk_arrives_before_the_stream_ends(kit, serve):
    server = serve(kit.server_cls.analyst(GOOD, SUMMARY, chunks=4, chunk_delay_s=0.15))
    backend = kit.backend(server)
    started = time.perf_counter()
    arrivals = [time.perf_counter() - started async for _ in backend.stream_summary(AnalysisResult("r1", "t"))]
    await backend.aclose()
    assert arrivals[-1] - arrivals[0] > 0.3
    assert arrivals[0] < arrivals[-1] - 0.3


async def test_an_error_after_the_first_chunk_ends_the_stream_with_a_request_error(kit, serve):
    server = serve(kit.server_cls.stream(["one ", "two ", "three"], fail_after=2))
    backend = kit.backend(server)
    seen: list[str] = []
    with pytest.raises(LLMRequestError, match=kit.name):
        async for chunk in backend.stream_summary(AnalysisResult("r1", "t")):
            seen.append(chunk)
    await backend.aclose()
    assert seen == ["one ", "two "]
    assert len(server.posts) == 1  # no retry once tokens have been delivered


@pytest.mark.parametrize("kit", [KITS[1]], ids=["openai"])
async def test_an_openai_stream_cut_off_before_its_finish_reason_is_a_request_error(serve, kit):
    complete = OpenAIStandin.stream(["one ", "two ", "three"], usage=None)
    # the same events up to the last content chunk: no finish_reason, no [DONE]
    server = serve(Reply(200, events=complete.events[:3]))
    backend = kit.backend(server)
    seen: list[str] = []
    with pytest.raises(LLMRequestError, match="broke off before the model finished"):
        async for chunk in backend.stream_summary(AnalysisResult("r1", "t")):
            seen.append(chunk)
    await backend.aclose()
    assert seen == ["one ", "two "]


@pytest.mark.parametrize("kit", [KITS[1]], ids=["openai"])
async def test_openai_steps_down_from_a_response_format_the_server_names_in_a_500(serve, kit):
    # what llama-cpp-python's server answers to response_format json_schema
    server = serve(OpenAIStandin.error(500, "1 validation error: ('body', 'response_format', 'type'): "
                                            "Input should be 'text' or 'json_object'"),
                   OpenAIStandin.analyst(GOOD, SUMMARY))
    backend = kit.backend(server, max_retries=0)
    reading = await backend.analyze_initial("text")
    await backend.aclose()
    assert len(reading.scenarios) == 3 and backend.structured_output_mode == "json_object_schema"


@pytest.mark.parametrize("kit", [KITS[1]], ids=["openai"])
async def test_openai_falls_back_to_json_mode_when_json_schema_is_rejected(serve, kit):
    server = serve(OpenAIStandin.analyst(GOOD, SUMMARY, json_schema_supported=False))
    backend = kit.backend(server)
    first = await backend.analyze_initial("text")
    second = await backend.analyze_initial("text")
    await backend.aclose()
    assert first == second and len(first.scenarios) == 3
    formats = [r.json.get("response_format", {}) for r in server.posts]
    assert [f.get("type") for f in formats] == ["json_schema", "json_object", "json_object"]
    # JSON mode carries the bounded schema, for servers that compile it into a grammar
    assert formats[1]["schema"] == formats[2]["schema"] == BOUNDED_READING_SCHEMA


async def test_aclose_is_idempotent_and_a_closed_backend_reopens_in_a_new_loop(kit, serve):
    server = serve(kit.server_cls.analyst(GOOD, SUMMARY))
    backend = kit.backend(server)
    await backend.aclose()
    await backend.summarize_final(AnalysisResult("r1", "t"))
    await backend.aclose()
    await backend.aclose()


async def test_sdk_loggers_are_scrubbed_during_a_call_and_left_bare_after_it(caplog, kit, serve):
    caplog.set_level(logging.DEBUG)
    backend = kit.backend(serve(kit.server_cls.analyst(GOOD, SUMMARY)))
    _, slot = backend._clients.get()
    async with slot:
        logging.getLogger("anthropic._base_client").debug("headers: %s", {"authorization": f"Bearer {KEY}"})
        logging.getLogger("httpx2").debug("sent %s, retries: %s", KEY, "none")
    assert len(caplog.records) == 2
    assert KEY not in caplog.text
    assert "Bearer ***" in caplog.text and "sent ***, retries: none" in caplog.text
    await backend.summarize_final(AnalysisResult("r1", "t"))
    await backend.aclose()
    for name in ("anthropic", "anthropic._base_client", "openai", "httpx", "httpx2", "httpcore"):
        assert logging.getLogger(name).filters == [], f"a filter stayed on the {name!r} logger"


@pytest.mark.parametrize("kit", [KITS[1]], ids=["openai"])
async def test_openai_streams_without_usage_from_a_server_that_rejects_stream_options(serve, kit):
    analyst = OpenAIStandin.analyst(GOOD, SUMMARY, chunks=3)

    def answer(request):
        if "stream_options" in request.json:
            return OpenAIStandin.error(400, "unknown field stream_options")
        return analyst(request)

    server = serve(answer)
    backend = kit.backend(server)
    for _ in range(2):
        chunks = [c async for c in backend.stream_summary(AnalysisResult("r1", "t"))]
        assert "".join(chunks) == SUMMARY
    await backend.aclose()
    assert ["stream_options" in r.json for r in server.posts] == [True, False, False]
