"""Pipeline figures, each against a baseline measured in the same run.

1. Concurrency: 24 requests with an LLM backend that takes 200 ms per call (two calls per
   request, no analyzers) through ``analyze_many`` at ``concurrency=8``, against the same
   requests one at a time. Target: at least 4x faster.
2. Overhead: 2000 requests, no analyzers, the offline ``none`` backend, against calling that
   backend's ``analyze_initial`` and ``stream_summary`` directly. Target: at most 1 ms/request.
3. Micro-batching: the red_heart stage (shared embedder + a trivial analyzer reading its
   vectors) with ``batch_size=16`` (``concurrency=32``, so the next batch gathers while one
   runs), the requests sent as separate ``analyze`` calls (a batch call would encode its texts
   ahead instead: ``bench_analyzers``), against calling the shared embedder directly on texts
   of the same shape in batches of 16. Target: at least 0.8x the direct throughput.
4. Overlap: 32 requests with the default analyzers and a 200 ms API LLM, under each of the
   ``cpu``, ``resident`` and ``phase_swap`` strategies, against the ideal bound measured in the
   same run: max(the LLM alone, the analyzers alone with an instant LLM). The LLM serves 8
   calls at once (an API backend's ``max_concurrency``) and every request is admitted
   (``concurrency=32``), so analyzers can run while requests wait for the LLM. Target:
   throughput at least 0.9x the bound (the LLM holds no device memory, so it must not wait
   for analyzer batches).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redheart_core import hookimpl
from redheart_core.config import load_config
from redheart_core.llm.none_backend import NoneBackend, NoneOptions
from redheart_core.pipeline import Pipeline
from redheart_core.plugins import get_registry
from redheart_core.schema import AnalysisResult, InitialAnalysis

LLM_CALL_S = 0.2
#: calls the slow backend serves at once, as an API backend's default max_concurrency
LLM_CONCURRENCY = 8
ROUNDS = 2
SITUATION = ("My colleague keeps taking credit for my work in meetings, and I am deciding whether "
             "to raise it with our manager or talk to him first.")


class SlowBackend(NoneBackend):
    """The offline backend behind 200 ms of network-like latency per call, at most
    ``LLM_CONCURRENCY`` calls at once (an API backend's ``max_concurrency``)."""

    def __init__(self, options: NoneOptions):
        super().__init__(options)
        self._calls = asyncio.Semaphore(LLM_CONCURRENCY)  # one pipeline, one event loop

    async def _wait(self) -> None:
        async with self._calls:
            await asyncio.sleep(LLM_CALL_S)

    async def analyze_initial(self, text: str) -> InitialAnalysis:
        await self._wait()
        return await super().analyze_initial(text)

    async def stream_summary(self, result: AnalysisResult):  # type: ignore[override]
        await self._wait()
        async for chunk in super().stream_summary(result):
            yield chunk


class InstantBackend(NoneBackend):
    """Answers at once with a fixed reading, so a measurement holds only what it means to."""

    async def analyze_initial(self, text: str) -> InitialAnalysis:
        return InitialAnalysis(stakeholders=["me", "colleague"])

    async def stream_summary(self, result: AnalysisResult):  # type: ignore[override]
        yield "summary"


class VectorNorm:
    """A trivial analyzer: all the red_heart stage's cost is the embedding it is handed."""

    requires: tuple[str, ...] = ()

    def analyze_batch(self, items):
        return [{"norm": float((item.embedding ** 2).sum())} for item in items]


class BenchPlugin:
    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("bench-slow", lambda o: SlowBackend(o), options=NoneOptions, description="bench")
        register("bench-instant", lambda o: InstantBackend(o), options=NoneOptions, description="bench")

    @hookimpl
    def redheart_register_analyzers(self, register):
        register("bench_norm", lambda o: VectorNorm(), description="bench")


def config(*overrides: str) -> Any:
    return load_config(overrides=list(overrides))


async def concurrency_ratio() -> tuple[float, float]:
    cfg = config("llm.backend=bench-slow", "analyzers=[]", "pipeline.concurrency=8")
    texts = [f"{SITUATION} (case {i})" for i in range(24)]
    async with Pipeline.from_config(cfg) as pipe:
        start = time.perf_counter()
        for text in texts:
            await pipe.analyze(text)
        one_at_a_time = time.perf_counter() - start
        start = time.perf_counter()
        results = await pipe.analyze_many(texts)
        concurrent = time.perf_counter() - start
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:1]
    return one_at_a_time, concurrent


async def overhead_per_request(n: int = 2000) -> tuple[float, float]:
    cfg = config("llm.backend=none", "analyzers=[]")
    texts = [f"{SITUATION} (case {i})" for i in range(n)]
    async with Pipeline.from_config(cfg) as pipe:
        await pipe.analyze_many(texts[:50])  # warm-up
        backend = pipe.llm
        direct = piped = float("inf")
        for _ in range(ROUNDS):  # interleaved, best of each: the machine is shared
            start = time.perf_counter()
            for text in texts:
                await backend.analyze_initial(text)
                async for _chunk in backend.stream_summary(AnalysisResult(request_id="x", text=text)):
                    pass
            direct = min(direct, time.perf_counter() - start)
            start = time.perf_counter()
            results = await pipe.analyze_many(texts)
            piped = min(piped, time.perf_counter() - start)
            assert all(r.ok for r in results)
    return direct / n, piped / n


async def batching_throughput(n: int = 256, batch: int = 16) -> tuple[float, float]:
    cfg = config("llm.backend=bench-instant", "analyzers=[bench_norm]", f"pipeline.batch_size={batch}",
                 f"pipeline.concurrency={2 * batch}", "pipeline.batch_wait_ms=5")
    words = SITUATION.split()
    run = time.perf_counter_ns() % 100_000  # the embedder caches per process: new texts per call

    def texts(offset: int) -> list[str]:  # distinct texts, same shape
        return [f"case {run}-{offset + i}: " + " ".join(words[(offset + i) % 5:]) for i in range(n)]

    async with Pipeline.from_config(cfg) as pipe:
        embedder = pipe.runtime.embedder
        embedder.encode(texts(10 * n)[:batch])  # load and warm the model
        await pipe.analyze_many(texts(20 * n)[: 2 * batch])
        direct = piped = 0.0
        for round_ in range(ROUNDS):  # interleaved, best of each: the machine is shared
            direct_texts, piped_texts = texts(2 * round_ * n), texts((2 * round_ + 1) * n)
            start = time.perf_counter()
            for i in range(0, n, batch):
                embedder.encode(direct_texts[i:i + batch])
            direct = max(direct, n / (time.perf_counter() - start))
            start = time.perf_counter()
            results = await asyncio.gather(*(pipe.analyze(t) for t in piped_texts))
            piped = max(piped, n / (time.perf_counter() - start))
            assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:1]
        batches = pipe.router.handler("red_heart").batcher.batches_run
    print(f"  red_heart batches run: {batches} for {ROUNDS * n + 2 * batch} requests")
    return direct, piped


OVERLAP_STRATEGIES = ("cpu", "resident", "phase_swap")


async def _timed(cfg: Any, texts: list[str]) -> float:
    async with Pipeline.from_config(cfg) as pipe:
        await pipe.analyze_many(texts[:4])  # load and warm the models
        start = time.perf_counter()
        results = await pipe.analyze_many(texts)
        seconds = time.perf_counter() - start
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:1]
    return seconds


async def overlap_against_bound(strategy: str, n: int = 32) -> tuple[float, float, float]:
    """(LLM alone, analyzers alone, together) in seconds for ``n`` requests under ``strategy``."""
    common = [f"memory.strategy={strategy}", "memory.device=cpu", f"pipeline.concurrency={n}"]
    run = time.perf_counter_ns() % 100_000  # the embedder caches per process: new texts per call

    def texts(tag: str) -> list[str]:
        return [f"{SITUATION} (case {run}-{tag}-{i})" for i in range(n)]

    llm = await _timed(config("llm.backend=bench-slow", "analyzers=[]", *common), texts("llm"))
    analyzers = await _timed(config("llm.backend=bench-instant", *common), texts("analyzers"))
    together = await _timed(config("llm.backend=bench-slow", *common), texts("together"))
    return llm, analyzers, together


def main() -> bool:
    registry = get_registry()
    registry.register_plugin(BenchPlugin(), "bench-pipeline")
    try:
        sequential, concurrent = asyncio.run(concurrency_ratio())
        ratio = sequential / concurrent
        print(f"24 requests x 2 LLM calls of 200 ms: one at a time {sequential:6.2f} s, "
              f"concurrency=8 {concurrent:6.2f} s -> {ratio:4.1f}x  (target >= 4x)")
        direct, piped = asyncio.run(overhead_per_request())
        overhead_ms = (piped - direct) * 1000
        print(f"2000 requests, offline backend, no analyzers: backend alone {direct * 1000:6.3f} ms/req, "
              f"through the pipeline {piped * 1000:6.3f} ms/req -> overhead {overhead_ms:6.3f} ms/req "
              "(target <= 1 ms)")
        direct_tps, piped_tps = asyncio.run(batching_throughput())
        share = piped_tps / direct_tps
        print(f"red_heart micro-batching, batch 16: embedder directly {direct_tps:7.1f} texts/s, "
              f"through the pipeline {piped_tps:7.1f} requests/s -> {share:4.2f}x  (target >= 0.8x)")
        overlaps = []
        for strategy in OVERLAP_STRATEGIES:
            llm, analyzers, together = asyncio.run(overlap_against_bound(strategy))
            overlaps.append(max(llm, analyzers) / together)
            print(f"32 requests, default analyzers + 200 ms API LLM, strategy {strategy:<10}: "
                  f"LLM alone {llm:5.2f} s, analyzers alone {analyzers:5.2f} s, together "
                  f"{together:5.2f} s -> {overlaps[-1]:4.2f}x the ideal bound  (target >= 0.9x)")
    finally:
        registry.unregister_plugin("bench-pipeline")
    return ratio >= 4 and overhead_ms <= 1.0 and share >= 0.8 and min(overlaps) >= 0.9


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
