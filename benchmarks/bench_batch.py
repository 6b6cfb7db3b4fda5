"""``redheart batch`` throughput: Lightning ``Trainer.predict`` with the JSONL writer, against
the same texts through a bare ``Pipeline.analyze_many`` (the baseline, measured in this run).

Target: the batch path keeps at least 70 % of the bare pipeline's single-process CPU
throughput (what Lightning, the dataset and the per-record flushes cost). With CUDA the same
batch also runs with ``--accelerator gpu`` and its throughput is printed against the CPU figure.
Offline config (``none`` LLM backend, all six analyzers, bundled MiniLM); each measurement gets
its own texts so that no run profits from the embedder's cache.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_TEXTS = 48
REPEATS = 3
TARGET_RATIO = 0.7


def texts(tag: str) -> list[str]:
    """``N_TEXTS`` varied situations (the shared dilemmas and example sentences), tagged."""
    pool = [json.loads(line)["text"] for line in (REPO / "examples" / "dilemmas.jsonl").read_text().splitlines()]
    pool += [json.loads(line)["text"] for line in
             (REPO / "examples" / "experiments" / "emotion" / "train.jsonl").read_text().splitlines()]
    return [f"{text} ({tag})" for text in pool[:N_TEXTS]]


async def bare_pipeline(cfg, batch: list[str]) -> float:
    from redheart_core import Pipeline

    async with Pipeline.from_config(cfg) as pipe:
        start = time.perf_counter()
        results = await pipe.analyze_many(batch)
        seconds = time.perf_counter() - start
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok][:1]
    return len(batch) / seconds


def lightning_batch(cfg, tag: str, work: Path, accelerator: str, n: int = N_TEXTS) -> float:
    from redheart_core.training.batch import run_batch

    batch = texts(tag)[:n]
    inputs = work / f"in-{tag}.jsonl"
    inputs.write_text("".join(json.dumps({"id": f"b{i}", "text": t}) + "\n" for i, t in enumerate(batch)))
    out = work / f"out-{tag}.jsonl"
    start = time.perf_counter()
    run = run_batch(cfg, inputs, out, accelerator=accelerator, devices=1, progress=False)
    seconds = time.perf_counter() - start
    assert run.answered == len(batch), run
    return len(batch) / seconds


def gpu_throughput() -> float:
    """The GPU batch figure; run in its own process, since the embedder of this one is on CPU."""
    from redheart_core import load_config

    cfg = load_config([REPO / "examples" / "configs" / "offline.yaml"])
    with tempfile.TemporaryDirectory() as tmp:
        lightning_batch(cfg, "gpu-warm-up", Path(tmp), "gpu", n=8)
        return lightning_batch(cfg, "gpu", Path(tmp), "gpu")


def gpu_throughput_in_fresh_process() -> float:
    code = "from benchmarks.bench_batch import gpu_throughput; print(gpu_throughput())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> bool:
    import torch

    from redheart_core import load_config

    cfg = load_config([REPO / "examples" / "configs" / "offline.yaml"],
                      ["memory.strategy=cpu", "memory.device=cpu", "embedding.device=cpu"])
    asyncio.run(bare_pipeline(cfg, texts("warm-up")[:8]))
    with tempfile.TemporaryDirectory() as tmp:
        base, cpu = 0.0, 0.0
        for rep in range(REPEATS):  # interleaved, best of each: the machine's load varies
            base = max(base, asyncio.run(bare_pipeline(cfg, texts(f"baseline-{rep}"))))
            cpu = max(cpu, lightning_batch(cfg, f"cpu-{rep}", Path(tmp), "cpu"))
        print(f"bare Pipeline.analyze_many (baseline)  {base:7.2f} texts/s  ({N_TEXTS} texts, CPU, "
              f"best of {REPEATS})")
        print(f"redheart batch, 1 CPU process          {cpu:7.2f} texts/s  "
              f"({cpu / base:.2f}x baseline, target >= {TARGET_RATIO})")
        if torch.cuda.is_available():
            gpu = gpu_throughput_in_fresh_process()
            print(f"redheart batch, 1 GPU ({torch.cuda.get_device_name(0)})  {gpu:7.2f} texts/s  "
                  f"({gpu / cpu:.2f}x the CPU batch)")
        else:
            print("redheart batch --accelerator gpu: no CUDA device here, not measured")
    return cpu >= TARGET_RATIO * base
