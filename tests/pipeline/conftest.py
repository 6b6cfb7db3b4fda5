"""In-process plugins the pipeline tests run against: a scripted LLM backend (real
:class:`LLMBackend` subclass: sleeps, fails N times, streams chunks) and small analyzers that
record how they were called."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional

import pytest

from redheart_core import hookimpl
from redheart_core.config import load_config
from redheart_core.errors import ConfigError
from redheart_core.llm.backend import LLMBackend, LLMRequest, LLMResponse
from redheart_core.llm.usage import record_usage
from redheart_core.schema import InitialAnalysis, Scenario

TEST_PLUGIN = "pipeline-test"


class ScriptedFailure(RuntimeError):
    """What the scripted backend raises when told to fail."""


@dataclass
class ScriptedOptions:
    delay_s: float = 0.0
    summary_delay_s: float = 0.0
    fail_initial: int = 0
    fail_summary: int = 0
    chunks: List[str] = field(default_factory=lambda: ["The situation ", "asks for ", "honesty."])
    chunk_delay_s: float = 0.0
    break_after: int = -1
    english_only: bool = False
    api_key: Optional[str] = None
    leak_key_in_error: bool = False
    raise_config_error: bool = False


class ScriptedBackend(LLMBackend):
    """Answers after ``delay_s``; the first ``fail_*`` calls raise; the summary streams ``chunks``."""

    model = "scripted-1"

    def __init__(self, options: ScriptedOptions, plugin: "PipelineTestPlugin"):
        self.options = options
        self.english_only = options.english_only
        self.initial_calls = 0
        self.summary_calls = 0
        self.closed = False
        #: (kind, request text, start, end) of every call, for ordering tests
        self.calls: list[tuple[str, str, float, float]] = []
        plugin.backends.append(self)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        await asyncio.sleep(self.options.delay_s)
        return LLMResponse(text="{}", model=self.model, usage={"input_tokens": 1, "output_tokens": 1})

    def _maybe_fail(self, calls: int, fail: int) -> None:
        if calls <= fail:
            key = f" with key {self.options.api_key}" if self.options.leak_key_in_error else ""
            raise ScriptedFailure(f"scripted failure {calls} of {fail}{key}")

    async def analyze_initial(self, text: str) -> InitialAnalysis:
        start = time.perf_counter()
        self.initial_calls += 1
        if self.options.raise_config_error:
            raise ConfigError("llm.options.model", "no such model")
        await asyncio.sleep(self.options.delay_s)
        self._maybe_fail(self.initial_calls, self.options.fail_initial)
        record_usage({"input_tokens": 10, "output_tokens": 20})
        self.calls.append(("initial", text, start, time.perf_counter()))
        return InitialAnalysis(emotions={"joy": 0.1, "fear": 0.6}, stakeholders=["friend", "me"],
                               scenarios=[Scenario(type="neutral", action="tell the truth")])

    async def stream_summary(self, result: Any):
        start = time.perf_counter()
        self.summary_calls += 1
        await asyncio.sleep(self.options.summary_delay_s)
        self._maybe_fail(self.summary_calls, self.options.fail_summary)
        for i, chunk in enumerate(self.options.chunks):
            if i == self.options.break_after:
                raise ScriptedFailure("the connection dropped mid-stream")
            await asyncio.sleep(self.options.chunk_delay_s)
            yield chunk
        record_usage({"input_tokens": 30, "output_tokens": 7})
        self.calls.append(("summary", result.text, start, time.perf_counter()))

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class AnalyzerCall:
    analyzer: str
    request_ids: list[str]
    start: float
    end: float
    thread: str


class RecordingAnalyzer:
    """Returns a small dict per item; records each batch call."""

    requires: tuple[str, ...] = ()

    def __init__(self, name: str, plugin: "PipelineTestPlugin", behaviour: str = "ok",
                 requires: tuple[str, ...] = (), stage: str = "red_heart"):
        self.name = name
        self.plugin = plugin
        self.behaviour = behaviour
        self.requires = requires
        self.stage = stage

    def analyze_batch(self, items):
        start = time.perf_counter()
        if self.behaviour == "slow":
            time.sleep(0.05)
        out = []
        for item in items:
            upstream = {k: v for k, v in item.results.items()}
            out.append({"chars": len(item.text), "batch": len(items),
                        "has_embedding": item.embedding is not None,
                        "initial": item.initial is not None, "upstream": sorted(upstream)})
        self.plugin.analyzer_calls.append(AnalyzerCall(self.name, [i.request_id for i in items],
                                                       start, time.perf_counter(),
                                                       threading.current_thread().name))
        if self.behaviour == "raise":
            raise ValueError("boom: this analyzer always fails")
        if self.behaviour == "poison" and any("[poison]" in item.text for item in items):
            raise ValueError("poisoned item in the batch")
        if self.behaviour == "short":
            return out[:-1]
        if self.behaviour == "not_dict":
            return ["nope"] * len(items)
        return out

    def provenance(self) -> dict[str, str]:
        return {f"{self.name}_model": f"{self.name}-v1"}


#: analyzer name -> (behaviour, requires, stage)
ANALYZERS = {
    "pt_length": ("ok", (), "red_heart"),
    "pt_reader": ("ok", ("pt_length",), "red_heart"),
    "pt_boom": ("raise", (), "red_heart"),
    "pt_after_boom": ("ok", ("pt_boom",), "red_heart"),
    "pt_short": ("short", (), "red_heart"),
    "pt_not_dict": ("not_dict", (), "red_heart"),
    "pt_slow": ("slow", (), "red_heart"),
    "pt_poison": ("poison", (), "red_heart"),
    "pt_circuit": ("ok", ("pt_length",), "circuit"),
}


class WordTranslator:
    """Korean to English word by word from a small table; records its batches."""

    source, target = "ko", "en"
    TABLE = {"친구가": "a friend", "거짓말을": "a lie", "했다.": "told."}

    def __init__(self, plugin: "PipelineTestPlugin", fail: bool = False):
        self.plugin = plugin
        self.fail = fail

    def translate_batch(self, texts: list[str]) -> list[str]:
        self.plugin.translated_batches.append(list(texts))
        if self.fail:
            raise OSError("translation model files are missing")
        return [" ".join(self.TABLE.get(w, w) for w in t.split()) for t in texts]


class PipelineTestPlugin:
    def __init__(self) -> None:
        self.backends: list[ScriptedBackend] = []
        self.analyzer_calls: list[AnalyzerCall] = []
        self.translated_batches: list[list[str]] = []

    @property
    def backend(self) -> ScriptedBackend:
        return self.backends[-1]

    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("scripted", lambda options: ScriptedBackend(options, self), options=ScriptedOptions,
                 description="pipeline tests: sleeps, fails, streams on cue")

        def keyless(options):
            raise ConfigError("llm.options.api_key", "no API key; set PT_API_KEY")

        register("keyless", keyless, description="pipeline tests: always a missing key")

    @hookimpl
    def redheart_register_translators(self, register):
        register("pt_words", lambda options: WordTranslator(self), description="pipeline tests")
        register("pt_broken", lambda options: WordTranslator(self, fail=True), description="pipeline tests")

    @hookimpl
    def redheart_register_analyzers(self, register):
        for name, (behaviour, requires, stage) in ANALYZERS.items():
            register(name, lambda options, n=name, b=behaviour, r=requires, s=stage:
                     RecordingAnalyzer(n, self, b, r, s), requires=requires, stage=stage,
                     description="pipeline tests")


@pytest.fixture
def plugin(redheart_plugin) -> PipelineTestPlugin:
    obj = PipelineTestPlugin()
    redheart_plugin(obj, TEST_PLUGIN)
    return obj


@pytest.fixture
def make_config(plugin):
    """``make_config("pipeline.concurrency=2", analyzers=["pt_length"], delay_s=0.1)``."""

    def make(*overrides: str, analyzers: list[str] = (), **backend: Any):
        items = [f"llm.backend=scripted", f"analyzers=[{','.join(analyzers)}]",
                 "pipeline.batch_wait_ms=2", *overrides]
        for key, value in backend.items():
            if isinstance(value, list):
                value = "[" + ",".join(f'"{v}"' for v in value) + "]"
            items.append(f"llm.options.{key}={value}")
        return load_config(overrides=items)

    return make
