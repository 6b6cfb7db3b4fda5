"""Analyzers: whole default analysis latency, and what the analyzers cost next to the embedding.

Baseline in the same run: the embedding itself. For each of a set of distinct situations the
embedder encodes everything the analyzers will read (the text, its clauses, its scenarios) from
a cold cache; then all six analyzers run with those vectors cached. Each figure is the best of
three runs per situation (the machine may be shared), then the median over situations. Target: the analyzers after embedding cost less than the embedding, and the SURD
Monte-Carlo propagation of 2000 samples stays well under 50 ms (here: under 25 ms).
The whole default analysis (offline ``none`` LLM backend, the default config, through the
pipeline) is reported as a median over the same situations.
"""

from __future__ import annotations

import asyncio
import statistics
import time

SITUATIONS = [
    "My friend asked me to lie to cover for him at work. I don't know what to do.",
    "I got a small bonus this week, but the factory explosion killed twelve people in our town.",
    "My manager wants me to sign off on a safety report I have not checked.",
    "Our landlord is raising the rent for everyone in the building by forty percent.",
    "I found a wallet with a lot of cash and the owner's address in it.",
    "My sister borrowed money from me again and I am starting to resent her.",
    "The hospital has one ventilator left and two patients who need it tonight.",
    "A colleague keeps taking credit for my work and the team seems to believe him.",
    "I was offered a better job, but leaving now would hurt the small team that trained me.",
    "Our village wants to sell the old forest to a developer to pay for a new school.",
    "My teenage son confessed he shoplifted and begged me not to tell his father.",
    "The charity I volunteer for is spending donations on the director's travel.",
    "I promised my dying grandmother I would keep the family house, but I cannot afford it.",
    "A stranger's dog bit my daughter and the owner is refusing to pay the hospital bill.",
    "The company plans to close the plant and hundreds of families here will lose their income.",
]


REPEATS = 3


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def embedding_vs_analyzers() -> tuple[float, float, float]:
    """Median (embedding ms, analyzers ms, surd ms) per situation."""
    from redheart_core.analyzers.base import AnalyzerItem
    from redheart_core.analyzers.bentham import scenarios_of
    from redheart_core.analyzers.text_cues import clauses
    from redheart_core.config import load_config
    from redheart_core.runtime import Runtime

    runtime = Runtime(load_config())
    analyzers = runtime.analyzers
    embedder = runtime.embedder
    embedder.encode(["warm-up sentence for the model"])
    embed_s, analyze_s, surd_s = [], [], []
    for text in SITUATIONS:
        item = AnalyzerItem("bench", text)
        texts = [text, *clauses(text), *(t for _, _, t in scenarios_of(item) if t)]
        cold = []
        for _ in range(REPEATS):  # the best of a few cold encodes: the machine is shared
            embedder.clear_cache()
            start = time.perf_counter()
            vectors = embedder.encode(texts)
            cold.append(time.perf_counter() - start)
        embed_s.append(min(cold))
        item.embedding = vectors[0]
        runs, surd_runs = [], []
        for _ in range(REPEATS):
            results: dict[str, dict] = {}
            start = time.perf_counter()
            for analyzer in analyzers:
                item.results = dict(results)
                began = time.perf_counter()
                results[analyzer.name] = analyzer.analyze_batch([item])[0]
                if analyzer.name == "surd":
                    surd_runs.append(time.perf_counter() - began)
            runs.append(time.perf_counter() - start)
        analyze_s.append(min(runs))
        surd_s.append(min(surd_runs))
    return _median_ms(embed_s), _median_ms(analyze_s), _median_ms(surd_s)


async def _pipeline_latencies() -> list[float]:
    from redheart_core import Pipeline, load_config

    out = []
    async with Pipeline.from_config(load_config()) as pipe:
        await pipe.analyze("A warm-up situation that loads every model once.")
        for text in SITUATIONS:
            start = time.perf_counter()
            result = await pipe.analyze(text + " (pipeline run)")
            out.append(time.perf_counter() - start)
            if result.errors:
                raise RuntimeError(f"the analysis failed: {result.errors}")
    return out


def main() -> bool:
    embed_ms, analyzers_ms, surd_ms = embedding_vs_analyzers()
    pipeline_ms = _median_ms(asyncio.run(_pipeline_latencies()))
    print(f"situations                          {len(SITUATIONS)}")
    print(f"embedding, cold (baseline)   median {embed_ms:7.1f} ms  (text + clauses + scenarios)")
    print(f"six analyzers after embedding median {analyzers_ms:6.1f} ms  (target < embedding)")
    print(f"  of which surd, 2000 samples median {surd_ms:6.1f} ms  (target < 25 ms)")
    print(f"whole default analysis       median {pipeline_ms:7.1f} ms  (pipeline, offline none backend)")
    return analyzers_ms < embed_ms and surd_ms < 25.0


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
