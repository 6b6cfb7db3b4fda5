"""The CUDA acceptance points (skipped without a CUDA device; figures in benchmarks/bench_memory)."""

from __future__ import annotations

import asyncio

import pytest

torch = pytest.importorskip("torch")

from benchmarks import bench_memory as bench  # noqa: E402
from redheart_core.memory import PhaseSwapStrategy, UnifiedMemoryManager  # noqa: E402

pytestmark = pytest.mark.gpu
GIB = 1024 ** 3


def test_a_phase_loop_over_modules_twice_the_budget_stays_within_the_nvml_budget():
    # the same through the real pipeline: test_pipeline_budget.py[cuda]
    figures = bench.peak_over_budget_loop(2 * GIB, requests=200)
    assert figures["peak_above_start"] <= 2 * GIB
    assert figures["oom_recoveries"] == 0


def test_swap_in_beats_pageable_copies_and_matches_raw_pinned_bandwidth():
    nbytes = GIB
    raw = nbytes / bench.best_of(3, lambda: bench.raw_pinned_seconds(nbytes))
    model = bench.layered_model(nbytes)
    pageable = nbytes / bench.best_of(3, lambda: bench.pageable_to_seconds(model))
    del model
    swap = bench.manager_swap_figures(nbytes)
    assert swap["swap_in_bytes_per_s"] >= 0.8 * raw
    assert swap["swap_in_bytes_per_s"] >= 5 * pageable
    assert swap["evict_ms_per_gb"] < 10


def test_a_real_out_of_memory_mid_batch_is_recovered_without_losing_a_request():
    umm = UnifiedMemoryManager("cuda", GIB, PhaseSwapStrategy())
    model = torch.nn.Linear(256, 256)
    umm.register("head", model, {"red_heart"})
    calls = []

    def forward(batch, device):
        calls.append(len(batch))
        if len(calls) == 1:  # a real allocation far beyond any device
            torch.empty(1 << 50, dtype=torch.uint8, device=device)
        x = torch.ones(len(batch), 256, device=device)
        with torch.no_grad():
            return list(model(x).sum(dim=1).cpu())

    async def run():
        async with umm.phase("red_heart"):
            return await asyncio.to_thread(
                umm.run_recovering, lambda batch: forward(batch, umm.device_of("head")),
                list(range(32)), "head")

    out = asyncio.run(run())
    assert len(out) == 32 and umm.stats()["oom_recoveries"] >= 1


def test_weights_round_trip_exactly_through_pinned_memory():
    umm = UnifiedMemoryManager("cuda", GIB, PhaseSwapStrategy())
    a, b = bench.layered_model(64 * 1024 ** 2, 4), bench.layered_model(64 * 1024 ** 2, 4)
    x = torch.randn(2, a[0].in_features)
    expected = a(x)
    umm.register("a", a, {"red_heart"})
    umm.register("b", b, {"llm"})

    async def run():
        for _ in range(2):
            async with umm.phase("red_heart"):
                assert umm.device_of("a").type == "cuda"
                got = a(x.cuda()).cpu()
            async with umm.phase("llm"):
                pass
        return got

    assert torch.allclose(asyncio.run(run()), expected, atol=1e-5)


def test_a_real_out_of_memory_inside_the_pipeline_loses_no_request(emotion_head):
    from redheart_core import load_config
    from redheart_core.pipeline import Pipeline

    cfg = load_config(overrides=[
        "llm.backend=none", "analyzers=[emotion]", f"analyzer_options.emotion.checkpoint={emotion_head}",
        "memory.device=cuda", "embedding.device=cuda", "memory.strategy=phase_swap",
        "pipeline.batch_size=8", "pipeline.concurrency=16"])
    texts = [f"Situation {i}: my colleague asked me to hide a mistake from our manager." for i in range(16)]

    async def run():
        async with Pipeline.from_config(cfg) as pipe:
            head = pipe.runtime.analyzers[0].modules()["emotion_head"]
            failures = iter([True])

            def allocate_far_too_much(module, args):
                if next(failures, False):  # a real allocation failure on the device, mid-batch
                    torch.empty(1 << 50, dtype=torch.uint8, device=args[0].device)

            handle = head.register_forward_pre_hook(allocate_far_too_much)
            try:
                results = await pipe.analyze_many(texts)
            finally:
                handle.remove()
            return results, pipe.runtime.memory.stats()

    results, stats = asyncio.run(run())
    assert [r.errors for r in results if r.errors] == []
    assert all(r.analyzer_output("emotion") for r in results)
    assert stats["oom_actions"]["retry"] >= 1 and stats["cpu_fallbacks"] == []
