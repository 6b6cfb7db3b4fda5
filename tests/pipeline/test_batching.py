"""The micro-batcher and the admission queue on their own."""

from __future__ import annotations

import asyncio
import time

import pytest

from redheart_core.pipeline.batching import MicroBatcher
from redheart_core.pipeline.queue import AdmissionQueue, QueueFull


def recording_batcher(**kwargs):
    batches: list[list[int]] = []

    async def run(items):
        batches.append(list(items))
        return [i * 10 for i in items]

    return MicroBatcher(run, **kwargs), batches


async def test_a_full_batch_is_sent_at_once_and_each_caller_gets_its_own_answer():
    batcher, batches = recording_batcher(batch_size=3, wait_s=10)
    answers = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(6))), 2)
    assert answers == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2], [3, 4, 5]]


async def test_a_partial_batch_waits_at_most_the_batch_window():
    batcher, batches = recording_batcher(batch_size=8, wait_s=0.05)
    started = time.perf_counter()
    assert await batcher.submit(1) == 10
    assert 0.04 <= time.perf_counter() - started < 1
    assert batches == [[1]]


async def test_a_batch_nobody_else_can_join_is_sent_without_waiting():
    batcher, batches = recording_batcher(batch_size=8, wait_s=10, could_join=lambda: 0)
    answers = await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 1)
    assert answers == [10, 20] and batches == [[1, 2]], "items ready in the same turn share a batch"


async def test_a_cancelled_item_leaves_its_batch():
    batcher, batches = recording_batcher(batch_size=8, wait_s=0.05)
    doomed = asyncio.create_task(batcher.submit(1))
    kept = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == 20 and batches == [[2]]


async def test_a_failing_batch_function_reaches_every_caller():
    async def run(items):
        raise RuntimeError("batch bug")

    batcher = MicroBatcher(run, batch_size=2, wait_s=0.01)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_the_queue_is_first_come_first_served_within_a_priority():
    queue = AdmissionQueue(concurrency=1, max_queue=10, overflow="block")
    order: list[str] = []
    await queue.acquire()

    async def take(name, priority):
        async with queue.slot(priority):
            order.append(name)

    tasks = [asyncio.create_task(take(n, p)) for n, p in [("a", 1), ("b", 1), ("c", 2), ("d", 1)]]
    await asyncio.sleep(0)
    assert queue.depth == 4
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["c", "a", "b", "d"] and queue.in_flight == 0


async def test_a_full_queue_rejects_or_blocks_by_policy():
    reject = AdmissionQueue(concurrency=1, max_queue=1, overflow="reject")
    await reject.acquire()
    waiting = asyncio.create_task(reject.acquire())
    await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        await reject.acquire()
    reject.release()
    await waiting

    block = AdmissionQueue(concurrency=1, max_queue=1, overflow="block")
    await block.acquire()
    queued = asyncio.create_task(block.acquire())
    blocked = asyncio.create_task(block.acquire())
    await asyncio.sleep(0)
    assert block.depth == 2 and not blocked.done()
    block.release()
    await queued
    block.release()
    await blocked
    assert block.in_flight == 1 and block.depth == 0
