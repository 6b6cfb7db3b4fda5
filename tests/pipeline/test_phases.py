"""The pipeline against the real memory manager and the real shared embedder."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch

from redheart_core.pipeline import Pipeline


class RecordingMemory:
    """The runtime's memory manager, with each phase hold recorded as (phase, start, end)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.holds: list[tuple[str, float, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def phase(self, name: str):
        recorder = self

        class Hold:
            async def __aenter__(self):
                self.cm = recorder.inner.phase(name)
                await self.cm.__aenter__()
                self.start = time.perf_counter()

            async def __aexit__(self, *exc):
                recorder.holds.append((name, self.start, time.perf_counter()))
                return await self.cm.__aexit__(*exc)

        return Hold()


class CountingEmbedder:
    def __init__(self, inner: Any):
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, texts):
        self.batches.append(len(texts))
        return self.inner.encode(texts)


def overlapping(holds: list[tuple[str, float, float]], a: str, b: str) -> bool:
    return any(pa == a and pb == b and sa < eb and sb < ea
               for pa, sa, ea in holds for pb, sb, eb in holds)


async def test_a_phase_never_changes_while_work_of_the_old_phase_runs(plugin, make_config):
    cfg = make_config("pipeline.concurrency=6", "pipeline.batch_size=3", "memory.strategy=phase_swap",
                      analyzers=["pt_slow", "pt_circuit", "pt_length"], delay_s=0.03,
                      summary_delay_s=0.03)
    pipe = Pipeline.from_config(cfg)
    for phase in ("circuit", "llm"):  # every phase has a working set: every entry may swap
        pipe.runtime.memory.register(f"pt_{phase}_model", torch.nn.Linear(4, 4), {phase})
    memory = pipe.runtime.memory = RecordingMemory(pipe.runtime.memory)
    async with pipe:
        results = await pipe.analyze_many([f"case {i}" for i in range(9)])
    assert all(r.ok for r in results)
    holds = sorted(memory.holds, key=lambda h: h[1])
    for i, (phase_a, start_a, end_a) in enumerate(holds):
        for phase_b, start_b, end_b in holds[i + 1:]:
            if phase_a != phase_b:
                assert end_a <= start_b or end_b <= start_a, \
                    f"{phase_a} and {phase_b} were held at the same time"
    work = [("llm", s, e) for _, _, s, e in plugin.backend.calls]
    phase_of = {"pt_slow": "red_heart", "pt_length": "red_heart", "pt_circuit": "circuit"}
    work += [(phase_of[c.analyzer], c.start, c.end) for c in plugin.analyzer_calls]
    for phase, start, end in work:
        assert any(p == phase and s <= start and end <= e for p, s, e in holds), \
            f"{phase} work ran outside a {phase} phase"
    assert results[0].memory.strategy == pipe.runtime.memory.strategy_name


@pytest.mark.parametrize("strategy", ["cpu", "resident"])
async def test_where_no_phase_change_moves_anything_llm_calls_overlap_analyzer_work(
        plugin, make_config, strategy):
    cfg = make_config("pipeline.concurrency=6", "pipeline.batch_size=3", f"memory.strategy={strategy}",
                      analyzers=["pt_slow", "pt_length"], delay_s=0.05, summary_delay_s=0.05)
    pipe = Pipeline.from_config(cfg)
    memory = pipe.runtime.memory = RecordingMemory(pipe.runtime.memory)
    async with pipe:
        results = await pipe.analyze_many([f"case {i}" for i in range(12)])
    assert all(r.ok for r in results)
    assert overlapping(memory.holds, "llm", "red_heart"), "the LLM waited for the analyzers"


async def test_each_batch_is_embedded_once_with_the_shared_embedder(plugin, make_config):
    cfg = make_config("pipeline.concurrency=6", "pipeline.batch_size=3", "pipeline.batch_wait_ms=50",
                      analyzers=["pt_length", "pt_circuit"])
    texts = [f"Embedding check number {i}: should I keep the extra change?" for i in range(6)]
    pipe = Pipeline.from_config(cfg)
    embedder = pipe.runtime.embedder = CountingEmbedder(pipe.runtime.embedder)
    async with pipe:
        results = await pipe.analyze_many(texts)
    assert all(r.ok and r.extras["pt_circuit"]["has_embedding"] for r in results)
    assert sum(embedder.batches) == 6 and len(embedder.batches) <= 3, embedder.batches
    assert results[0].provenance.models["embedder"] == embedder.model_id
    direct = embedder.inner.encode([texts[0]])[0]
    assert direct.shape == (embedder.dim,) and np.isfinite(direct).all()


@pytest.mark.gpu
async def test_torch_work_runs_on_the_cuda_worker(plugin, make_config):
    cfg = make_config("memory.device=cuda", "embedding.device=cuda", analyzers=["pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze("A situation on the GPU.")
    assert result.ok and result.memory.device.startswith("cuda")
    assert plugin.analyzer_calls[0].thread.startswith("redheart-cuda")
