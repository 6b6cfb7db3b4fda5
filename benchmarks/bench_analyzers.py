"""Analyzers: the default analysis' throughput against a bare forward pass of its encoder, its
latency, and what the analyzers cost next to the embedding.

Throughput (target >= 0.8x): 256 distinct situations (the commonsense dev scenarios of
``data/``) through the whole default analysis (``Pipeline.analyze_many``, offline ``none`` LLM,
cold caches), against the same encoder (the Red Heart model's, with its fine-tuned weights)
tokenising, running and pooling the same texts in batches of ``pipeline.batch_size``, with
nothing else. Also reported: the shared embedder alone over the same texts in the chunks a batch
call reads ahead (``Pipeline.read_ahead_chunk``), the encoder's part of the analysis, which the
analyzers' work overlaps only partly (two cores here). The bare pass runs the model eagerly and
padded, as a user's own loop would; the embedder traces it on the CPU once it has read a batch,
packed (``redheart_core.model.tracing``, ``redheart_core.model.packing``: the same bits, the
matrix products on real tokens only), so the embedder-alone figure shows what that is worth by
itself. Also reported, not the target: the analysis in steady state, over other new texts from
the cache the previous analysis left, where the offline backend's scenario sentences (about 15
that recur across texts) are already encoded, as in any run past its first few hundred texts.
Each is timed twice, alternating; the best counts.

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
THROUGHPUT_TEXTS = 256
THROUGHPUT_TARGET = 0.8


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


def _throughput_texts() -> list[str]:
    from pathlib import Path

    from redheart_core.model.corpus import load_task

    data = Path(__file__).resolve().parent.parent / "data"
    return [e.text for e in load_task(data, "acceptability").dev[:THROUGHPUT_TEXTS]]


def _bare_forward(embedder, texts: list[str], batch: int) -> float:
    """Seconds for the encoder alone: tokenise, forward, mean-pool, batch by batch."""
    import torch

    reader = embedder._reader
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            features = reader.tokenizer(texts[i:i + batch], padding=True, truncation=True,
                                        max_length=reader.window, return_tensors="pt")
            states = reader.model(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).float()
            torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)
    return time.perf_counter() - start


def _embedder_alone(embedder, texts: list[str], batch: int) -> float:
    """Seconds for the shared embedder alone (its batch-invariant reader, clause vectors
    included) over ``texts`` in batches of ``batch``: the encoder's part of the analysis."""
    embedder.clear_cache()
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.encode(texts[i:i + batch])
    return time.perf_counter() - start


async def _analysis_seconds(pipe, embedder, texts: list[str], cold: bool = True) -> float:
    if cold:
        embedder.clear_cache()
    start = time.perf_counter()
    results = await pipe.analyze_many(texts)
    seconds = time.perf_counter() - start
    failed = [r for r in results if r.errors]
    if failed:
        raise RuntimeError(f"the analysis failed: {failed[0].errors}")
    return seconds


async def throughput() -> tuple[float, float, float, int, float]:
    """(analysis texts/s, bare encoder texts/s, the embedder alone in read-ahead chunks texts/s,
    the chunk size, the analysis in steady state texts/s), each the best of two alternating
    runs. The analysis starts from an empty cache; in steady state it goes on, with other new
    texts, from the cache the previous analysis left: what stays there is what recurs across
    texts, the offline backend's scenario sentences (about 15 distinct ones)."""
    from redheart_core import Pipeline, load_config

    texts = _throughput_texts()
    config = load_config(overrides=["experience.path=null"])
    analysis, bare, alone, steady = [], [], [], []
    async with Pipeline.from_config(config) as pipe:
        embedder = pipe.runtime.embedder
        chunk = pipe.read_ahead_chunk
        await pipe.analyze("A warm-up situation that loads every model once.")
        for round_ in range(2):  # new texts each round: nothing is cached from the last
            batch = [f"{t} ({round_})" for t in texts]
            bare.append(_bare_forward(embedder, batch, int(config.pipeline.batch_size)))
            alone.append(_embedder_alone(embedder, batch, chunk))
            analysis.append(await _analysis_seconds(pipe, embedder, batch))
            steady.append(await _analysis_seconds(pipe, embedder, [f"{t} ({round_}, again)" for t in texts],
                                                  cold=False))
    n = len(texts)
    return n / min(analysis), n / min(bare), n / min(alone), chunk, n / min(steady)


def main() -> bool:
    analysis_tps, bare_tps, alone_tps, chunk, steady_tps = asyncio.run(throughput())
    ratio = analysis_tps / bare_tps
    print(f"throughput, {THROUGHPUT_TEXTS} distinct texts: default analysis {analysis_tps:6.1f} texts/s, "
          f"bare encoder forward {bare_tps:6.1f} texts/s = {ratio:.2f}x (target >= {THROUGHPUT_TARGET}x)")
    print(f"  in steady state (the offline backend's scenario sentences left cached by the previous "
          f"texts): {steady_tps:6.1f} texts/s = {steady_tps / bare_tps:.2f}x (report)")
    print(f"  the shared embedder alone in the read-ahead chunks of {chunk}: "
          f"{alone_tps:6.1f} texts/s = {alone_tps / bare_tps:.2f}x (the encoder's part of the analysis)")
    embed_ms, analyzers_ms, surd_ms = embedding_vs_analyzers()
    pipeline_ms = _median_ms(asyncio.run(_pipeline_latencies()))
    print(f"situations                          {len(SITUATIONS)}")
    print(f"embedding, cold (baseline)   median {embed_ms:7.1f} ms  (text + clauses + scenarios)")
    print(f"six analyzers after embedding median {analyzers_ms:6.1f} ms  (target < embedding)")
    print(f"  of which surd, 2000 samples median {surd_ms:6.1f} ms  (target < 25 ms)")
    print(f"whole default analysis       median {pipeline_ms:7.1f} ms  (pipeline, offline none backend)")
    return ratio >= THROUGHPUT_TARGET and analyzers_ms < embed_ms and surd_ms < 25.0


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
