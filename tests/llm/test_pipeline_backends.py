"""Whole analyses with the API backends, in process and through the ``redheart`` CLI, against
loopback stand-ins: the result carries what the server sent, or the recorded error."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from redheart_core import Pipeline, load_config
from redheart_core.pipeline.events import Partial, Result, Token
from redheart_core.testing.standin_servers import SAMPLE_READING, Reply
from redheart_plugins_claude.standin import AnthropicStandin
from redheart_plugins_openai.standin import OpenAIStandin

KEY = "sk-test-DO-NOT-LEAK-77c3"
SUMMARY = "Refuse kindly: it keeps the friendship honest. The other paths carry more regret."
TEXT = "My friend asked me to lie to cover for him at work. I am afraid my boss will find out."
BROKEN = {**SAMPLE_READING, "emotions": {"happiness": 0.9}, "scenarios": []}

SERVERS = {"claude": (AnthropicStandin, "ANTHROPIC_API_KEY", 529),
           "openai": (OpenAIStandin, "OPENAI_API_KEY", 503)}


@pytest.fixture(params=sorted(SERVERS))
def backend_name(request) -> str:
    return request.param


def overrides(name: str, server) -> list[str]:
    return [f"llm.backend={name}", f"llm.options.base_url={server.base_url}",
            "llm.options.max_retries=3", f"llm.options.api_key={KEY}"]


def broken_reader(name: str):
    """A stand-in model whose readings never match the schema but whose summaries are fine."""
    server_cls = SERVERS[name][0]
    good = server_cls.analyst(SAMPLE_READING, SUMMARY)

    def answer(request):
        body = request.json
        wants_reading = bool(body.get("tools") or body.get("response_format"))
        if not wants_reading:
            return good(request)
        if name == "claude":
            return AnthropicStandin.message(tool_input=BROKEN)
        return OpenAIStandin.completion(json.dumps(BROKEN))

    return answer


async def test_analysis_survives_429_overload_and_500_and_reports_what_the_server_sent(backend_name):
    server_cls, _, overloaded = SERVERS[backend_name]
    with server_cls(server_cls.error(429, retry_after="0.01"),
                    server_cls.error(overloaded, retry_after_ms="5"),
                    server_cls.error(500, retry_after_ms="5"),
                    server_cls.analyst(SAMPLE_READING, SUMMARY)) as server:
        async with Pipeline.from_config(load_config(overrides=overrides(backend_name, server))) as pipe:
            result = await pipe.analyze(TEXT)
            stats = pipe.stats()
    assert result.ok, result.errors
    assert [s.action for s in result.llm.initial.scenarios] == ["refuse kindly", "stall", "lie"]
    assert result.llm.summary == SUMMARY
    assert result.llm.backend == backend_name
    assert result.llm.usage["input_tokens"] > 0 and result.llm.usage["output_tokens"] > 0
    assert stats["llm_retries_total"] >= 3
    assert KEY not in result.to_json()


async def test_malformed_readings_leave_an_llm_initial_error_and_the_analyzers_output(backend_name):
    server_cls = SERVERS[backend_name][0]
    with server_cls(broken_reader(backend_name)) as server:
        async with Pipeline.from_config(load_config(overrides=overrides(backend_name, server))) as pipe:
            result = await pipe.analyze(TEXT)
    assert [(e.stage, e.type) for e in result.errors] == [("llm_initial", "LLMOutputError")]
    assert "unknown emotion label(s) happiness" in result.errors[0].message
    assert result.llm.initial is None
    assert result.emotion is not None and result.bentham is not None and result.circuit is not None
    assert result.llm.summary == SUMMARY
    readings = [r for r in server.posts if r.json.get("tools") or r.json.get("response_format")]
    assert len(readings) == 2  # the reading and its one repair; no pipeline retry on top


async def test_http_failure_after_the_sdk_retries_is_recorded_once(backend_name):
    server_cls, _, overloaded = SERVERS[backend_name]
    with server_cls(server_cls.error(overloaded, "overloaded", retry_after_ms="1")) as server:
        async with Pipeline.from_config(load_config(overrides=overrides(backend_name, server))) as pipe:
            result = await pipe.analyze(TEXT)
    assert [(e.stage, e.type) for e in result.errors] == [("llm_initial", "LLMRequestError"),
                                                          ("llm_final", "LLMRequestError")]
    assert f"HTTP {overloaded}" in result.errors[0].message and "after 3 retries" in result.errors[0].message
    assert len(server.posts) == 2 * 4  # each call: one attempt and the SDK's 3 retries
    assert result.emotion is not None


async def test_streamed_summary_tokens_arrive_before_the_result_and_add_up_to_it(backend_name):
    server_cls = SERVERS[backend_name][0]
    with server_cls(server_cls.analyst(SAMPLE_READING, SUMMARY, chunks=6)) as server:
        async with Pipeline.from_config(load_config(overrides=overrides(backend_name, server))) as pipe:
            events = [e async for e in pipe.stream(TEXT)]
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert len(tokens) == 6
    assert isinstance(events[-1], Result)
    assert "".join(tokens) == events[-1].result.llm.summary == SUMMARY
    first_token = next(i for i, e in enumerate(events) if isinstance(e, Token))
    assert any(isinstance(e, Partial) and e.key == "llm.initial" for e in events[:first_token])
    assert server.posts[-1].json["stream"] is True


def run_cli(redheart_bin, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*redheart_bin, "analyze", TEXT, *args], capture_output=True, text=True,
                          env=env, timeout=180)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def test_cli_exits_1_without_traceback_when_the_reading_stays_malformed(redheart_bin):
    with AnthropicStandin(broken_reader("claude")) as server:
        proc = run_cli(redheart_bin, "--json", "--set", "llm.backend=claude",
                       "--set", f"llm.options.base_url={server.base_url}",
                       "--set", "logging.level=DEBUG", env=cli_env(ANTHROPIC_API_KEY=KEY))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert [(e["stage"], e["type"]) for e in result["errors"]] == [("llm_initial", "LLMOutputError")]
    assert result["emotion"] is not None and result["llm"]["summary"] == SUMMARY
    assert KEY not in proc.stdout and KEY not in proc.stderr


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_cli_missing_key_exits_2_naming_the_variable(redheart_bin, name):
    proc = run_cli(redheart_bin, "--set", f"llm.backend={name}", env=cli_env())
    env_var = SERVERS[name][1]
    assert proc.returncode == 2
    assert env_var in proc.stderr and "llm.options.api_key" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_a_stream_that_breaks_after_tokens_ends_with_the_error_in_the_result(backend_name):
    server_cls = SERVERS[backend_name][0]
    analyst = server_cls.analyst(SAMPLE_READING, SUMMARY)

    def answer(request):
        if request.wants_stream:
            return server_cls.stream(["Refuse ", "kindly", " and"], fail_after=2)
        return analyst(request)

    with server_cls(answer) as server:
        async with Pipeline.from_config(load_config(overrides=overrides(backend_name, server))) as pipe:
            events = [e async for e in pipe.stream(TEXT)]
    from redheart_core.pipeline.events import StageFinished

    assert [e.text for e in events if isinstance(e, Token)] == ["Refuse ", "kindly"]
    final = next(e for e in events if isinstance(e, StageFinished) and e.stage == "llm_final")
    assert final.error is not None and final.error.type == "LLMRequestError"
    result = events[-1].result
    assert [(e.stage, e.type) for e in result.errors] == [("llm_final", "LLMRequestError")]
    assert sum(1 for r in server.posts if r.wants_stream) == 1  # no retry once tokens were shown


GARBAGE = {
    "truncated JSON": Reply(200, body='{"id": "msg_1", "type": "message", "content": [',
                            headers={"content-type": "application/json"}),
    "a garbled event stream": Reply(200, events=[("message_delta", {"garbage": 1}), (None, "not json")]),
}


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
async def test_garbage_from_the_vendor_ends_as_an_llm_output_error_naming_the_backend(backend_name, garbage):
    server_cls = SERVERS[backend_name][0]
    with server_cls(GARBAGE[garbage]) as server:
        cfg = load_config(overrides=[*overrides(backend_name, server), "analyzers=[]"])
        async with Pipeline.from_config(cfg) as pipe:
            result = await pipe.analyze(TEXT)
    assert {e.stage for e in result.errors} == {"llm_initial", "llm_final"}
    for error in result.errors:
        assert error.type == "LLMOutputError", error
        assert error.message.startswith(f"{backend_name}: ") or f": {backend_name}: " in error.message
