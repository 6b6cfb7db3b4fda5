"""Reading ahead: a batch call's texts are encoded in chunks before their requests need them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from redheart_core.pipeline import Pipeline
from redheart_core.pipeline.read_ahead import ReadAhead

KOREAN = "친구가 거짓말을 했다."
BESIDE = "redheart-cpu-beside"  # the thread beside the CPU worker


def recorder(fail: bool = False):
    """An ``encode`` that records the chunks it is given (and fails on cue)."""
    chunks: list[list[str]] = []

    async def encode(texts: list[str]) -> None:
        chunks.append(list(texts))
        await asyncio.sleep(0)
        if fail:
            raise OSError("the encoder is gone")

    return encode, chunks


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_chunks_are_encoded_in_order_one_after_another_at_most_two_ahead():
    encode, chunks = recorder()
    texts = [f"t{i}" for i in range(10)]
    ahead = ReadAhead(texts, chunk=2, readable=lambda t: True, encode=encode)
    await ahead.ready(0)
    await settle()
    assert chunks == [["t0", "t1"], ["t2", "t3"], ["t4", "t5"]], "two chunks beyond the first request's"
    await ahead.ready(6)
    await settle()
    assert chunks[3:] == [["t6", "t7"], ["t8", "t9"]]
    await ahead.ready(1)
    assert len(chunks) == 5, "each chunk is encoded once"


async def test_the_first_chunk_is_small_so_the_analyzers_start_soon():
    encode, chunks = recorder()
    ahead = ReadAhead([f"t{i}" for i in range(7)], chunk=4, first=1, readable=lambda t: True,
                      encode=encode)
    await ahead.ready(6)
    assert chunks == [["t0"], ["t1", "t2", "t3", "t4"], ["t5", "t6"]]


async def test_only_texts_that_reach_the_encoder_as_given_are_read_ahead():
    encode, chunks = recorder()
    ahead = ReadAhead(["a", "", "b", "skip c"], chunk=2, readable=lambda t: bool(t) and "skip" not in t,
                      encode=encode)
    await ahead.ready(3)
    assert chunks == [["a"], ["b"]]


async def test_a_chunk_that_fails_to_encode_leaves_its_requests_to_encode_themselves():
    encode, chunks = recorder(fail=True)
    ahead = ReadAhead(["a", "b", "c"], chunk=2, readable=lambda t: True, encode=encode)
    await ahead.ready(2)  # does not raise
    assert chunks == [["a", "b"], ["c"]]


async def test_closing_stops_the_chunk_being_encoded_and_frees_its_requests():
    started = asyncio.Event()

    async def never(texts: list[str]) -> None:
        started.set()
        await asyncio.Event().wait()

    ahead = ReadAhead(["a", "b"], chunk=1, readable=lambda t: True, encode=never)
    waiting = asyncio.create_task(ahead.ready(0))
    await started.wait()
    await ahead.aclose()
    await asyncio.wait_for(waiting, 1)
    await asyncio.wait_for(ahead.ready(1), 1)  # nothing more is read once closed, nobody waits


def test_a_chunk_must_hold_a_text():
    with pytest.raises(ValueError, match="chunk, first and ahead must be at least 1"):
        ReadAhead(["a"], chunk=0, readable=lambda t: True, encode=recorder()[0])


@pytest.fixture
def encodings_seen(monkeypatch):
    """Each call of the shared embedder's ``encodings``: (thread name, texts); the real method
    still does the work."""
    from redheart_core.analyzers.embedder import Embedder

    seen: list[tuple[str, list[str]]] = []
    real = Embedder.encodings

    def recording(self, texts):
        seen.append((threading.current_thread().name, list(texts)))
        return real(self, texts)

    monkeypatch.setattr(Embedder, "encodings", recording)
    return seen


async def test_a_batch_call_encodes_its_texts_ahead_in_chunks_beside_the_device_worker(
        plugin, make_config, encodings_seen):
    texts = [f"Read-ahead situation number {i}: I kept a promise to a friend." for i in range(20)]
    cfg = make_config("pipeline.batch_size=2", "pipeline.concurrency=2", analyzers=["pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        pipe.runtime.embedder.clear_cache()
        results = await pipe.analyze_many(texts)
    assert all(r.ok for r in results)
    ahead = [batch for thread, batch in encodings_seen if thread.startswith(BESIDE)]
    assert ahead == [texts[:2], texts[2:10], texts[10:18], texts[18:]], \
        "one micro-batch first, then chunks of four, in order"
    stage = [batch for thread, batch in encodings_seen if not thread.startswith(BESIDE)]
    assert stage and all(set(batch) <= set(texts) for batch in stage)
    assert all(c.analyzer == "pt_length" for c in plugin.analyzer_calls)


async def test_texts_to_be_translated_are_not_read_ahead(plugin, make_config, encodings_seen):
    cfg = make_config("translation.translator=pt_words", "pipeline.batch_size=2",
                      analyzers=["pt_length"])
    english = "A friend told a lie and I said nothing."
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many([KOREAN, english, KOREAN + " ", english + " again"])
    assert all(r.ok for r in results)
    ahead = [batch for thread, batch in encodings_seen if thread.startswith(BESIDE)]
    assert ahead == [[english], [english + " again"]]
    assert results[0].translated_text == "a friend a lie told."
