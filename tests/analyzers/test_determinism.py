"""Results are deterministic: identical for identical input and history, and equal to within 1e-6
whatever micro-batch a text lands in (each text's vectors, readings and Monte-Carlo draws are its
own)."""

from __future__ import annotations

import math
from typing import Any

from redheart_core import Pipeline, load_config

TEXTS = [
    "My friend asked me to lie to cover for him at work.",
    "I spent the afternoon filling the pinata with razors for the birthday party.",
    "I cleaned my child with soap in the bath tub.",
    "I got a small bonus this week, but the factory explosion killed twelve people in our town.",
    "The hospital has one ventilator left and two patients who need it tonight.",
    "I helped my elderly neighbour carry her groceries up the stairs.",
]


def numbers(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a result dict by its path (request ids and timings left out)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("request_id", "timings_ms", "memory", "config_hash"):
                continue
            out.update(numbers(item, f"{path}.{key}"))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(numbers(item, f"{path}[{i}]"))
        return out
    return {path: value}


async def analyses(batch_size: int, *, one_by_one: bool) -> list[dict[str, Any]]:
    """Each text's result: analyzed one after another (each alone in every micro-batch and
    encoder pass), or in one batch call (micro-batches of ``batch_size``, encoded ahead)."""
    from redheart_core.analyzers.embedder import get_embedder

    config = load_config(overrides=[f"pipeline.batch_size={batch_size}", "experience.path=null",
                                    "analyzer_options.circuit.store=false", "memory.strategy=cpu",
                                    "memory.device=cpu"])
    get_embedder(str(config.embedding.model)).clear_cache()
    async with Pipeline.from_config(config) as pipe:
        if one_by_one:
            results = [await pipe.analyze(text) for text in TEXTS]
        else:
            results = await pipe.analyze_many(TEXTS)
    assert all(r.ok for r in results), [r.errors for r in results]
    return [numbers(r.to_dict()) for r in results]


async def test_a_text_gets_the_same_result_alone_and_in_a_batch():
    alone, together = await analyses(1, one_by_one=True), await analyses(16, one_by_one=False)
    for single, batched in zip(alone, together):
        assert single.keys() == batched.keys()
        for key, value in single.items():
            if isinstance(value, float):
                assert math.isclose(value, batched[key], abs_tol=1e-6), (key, value, batched[key])
            else:
                assert value == batched[key], key


async def test_identical_input_and_history_give_identical_results():
    assert await analyses(4, one_by_one=False) == await analyses(4, one_by_one=False)
