"""Out-of-memory errors inside the pipeline's own torch work cost time, never a request.

The errors come from forward pre-hooks on the real modules (the bundled embedder, a trained
emotion head) and are raised the way CUDA raises them when activations do not fit: for batches
above a size, or until the module has been moved to the CPU. The same on a GPU, with a real
allocation failure, is in ``test_gpu.py``.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from redheart_core import load_config
from redheart_core.analyzers.embedder import embedder_from_config
from redheart_core.pipeline import Pipeline

SETTINGS = ["llm.backend=none", "memory.device=cpu", "memory.strategy=phase_swap",
            "memory.headroom=0.0", "pipeline.batch_size=8", "pipeline.concurrency=16"]
TEXTS = [f"My neighbour number {i} asked me to keep a secret from the police." for i in range(12)]
_unique = itertools.count()


def oom(detail: str) -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB ({detail})")


def config(*extra: str):
    return load_config(overrides=[*SETTINGS, *extra])


def assert_close(got, expected, where="emotion"):
    """Equal up to float rounding (a smaller batch sums in another order)."""
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), where
        for key in expected:
            assert_close(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        # the documented bound for a text whose batch changed (halved, or moved to the CPU)
        assert got == pytest.approx(expected, abs=1e-6), where
    else:
        assert got == expected, where


async def emotions(pipe: Pipeline, texts: list[str]) -> list[dict]:
    results = await pipe.analyze_many(texts)
    assert [r.errors for r in results if r.errors] == []
    return [r.analyzer_output("emotion") for r in results]


async def test_an_analyzer_batch_too_large_for_the_device_is_split_until_it_fits(emotion_head):
    cfg = config("analyzers=[emotion]", f"analyzer_options.emotion.checkpoint={emotion_head}")
    async with Pipeline.from_config(cfg) as pipe:
        expected = await emotions(pipe, TEXTS)
        head = pipe.runtime.analyzers[0].modules()["emotion_head"]

        def at_most_two_rows(module, args):
            if args[0].shape[0] > 2:
                raise oom(f"{args[0].shape[0]} rows")

        handle = head.register_forward_pre_hook(at_most_two_rows)
        try:
            got = await emotions(pipe, TEXTS)
        finally:
            handle.remove()
        stats = pipe.runtime.memory.stats()
    assert_close(got, expected)
    assert stats["oom_actions"]["split"] >= 1 and stats["cpu_fallbacks"] == []


async def test_an_analyzer_that_only_fits_on_the_cpu_moves_there_and_answers_everything(emotion_head):
    cfg = config("analyzers=[emotion]", f"analyzer_options.emotion.checkpoint={emotion_head}")
    async with Pipeline.from_config(cfg) as pipe:
        expected = await emotions(pipe, TEXTS)
        umm = pipe.runtime.memory
        head = pipe.runtime.analyzers[0].modules()["emotion_head"]

        def only_on_the_cpu(module, args):
            if "emotion_head" not in umm.stats()["cpu_fallbacks"]:
                raise oom("the head's activations")

        handle = head.register_forward_pre_hook(only_on_the_cpu)
        try:
            got = await emotions(pipe, TEXTS)
        finally:
            handle.remove()
        stats = umm.stats()
    assert_close(got, expected)
    # the analyzer also encodes through the shared embedder (and its model's heads): all leave
    # the device for good
    assert sorted(stats["cpu_fallbacks"]) == ["embedder", "emotion_head", "model_heads"]
    assert stats["oom_actions"]["cpu"] == 1
    assert "emotion_head" not in umm.resident_names()


async def test_the_embedder_running_out_of_memory_once_is_retried_after_making_room():
    texts = [f"A fresh situation {next(_unique)}: {t}" for t in TEXTS[:4]]  # not in the cache
    async with Pipeline.from_config(config("analyzers=[emotion]")) as pipe:
        embedder = pipe.runtime.embedder
        failures = iter([True])

        def once(module, args):
            if next(failures, False):
                raise oom("the embedder's first batch")

        handle = embedder.module.register_forward_pre_hook(once)
        try:
            results = await pipe.analyze_many(texts)
        finally:
            handle.remove()
        stats = pipe.runtime.memory.stats()
    assert [r.errors for r in results if r.errors] == []
    assert all(r.analyzer_output("emotion") for r in results)
    assert stats["oom_actions"]["retry"] == 1 and stats["cpu_fallbacks"] == []


async def test_an_error_that_is_not_out_of_memory_still_fails_only_its_request(emotion_head):
    cfg = config("analyzers=[emotion]", f"analyzer_options.emotion.checkpoint={emotion_head}")
    async with Pipeline.from_config(cfg) as pipe:
        head = pipe.runtime.analyzers[0].modules()["emotion_head"]
        poison = embedder_from_config(cfg.embedding).encode([TEXTS[3]])[0]

        def rejects_one_text(module, args):
            if any(torch.allclose(row, torch.as_tensor(poison), atol=1e-6) for row in args[0]):
                raise ValueError("this text breaks the head")

        handle = head.register_forward_pre_hook(rejects_one_text)
        try:
            results = await pipe.analyze_many(TEXTS)
        finally:
            handle.remove()
        stats = pipe.runtime.memory.stats()
    failed = [i for i, r in enumerate(results) if r.errors]
    assert failed == [3]
    assert stats["oom_recoveries"] == 0
