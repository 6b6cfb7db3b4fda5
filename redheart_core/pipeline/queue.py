"""The bounded priority queue in front of the pipeline's request slots.

At most ``concurrency`` requests are in flight; up to ``max_queue`` more wait, highest priority
first and first-come-first-served within a priority. When the queue is full a new request is
either rejected at once (``overflow: reject``, :class:`QueueFull`) or waits for room
(``overflow: block``, in arrival order). A cancelled waiter leaves the queue, and a slot
granted to a request that was cancelled before it could use it is passed on, so nothing leaks.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from ..errors import RedheartError


def batch_window(concurrency: int, max_queue: int, batch_size: int) -> int:
    """How many requests one batch (or one continuous-mode reader) keeps waiting or in flight:
    enough for every slot and a full micro-batch, never more than the queue holds. Feeding a
    batch through this window is what lets other callers' requests interleave with it."""
    return max(1, min(max_queue, max(batch_size, 2 * concurrency)))


class QueueFull(RedheartError):
    """The pipeline's queue was full and ``pipeline.overflow`` is ``reject``: the request was
    turned away before any stage ran, so there is no result. ``request_id`` names it."""

    def __init__(self, message: str, request_id: str | None = None):
        super().__init__(message)
        self.request_id = request_id


@dataclass(order=True)
class _Waiter:
    sort_key: tuple[int, int]
    future: asyncio.Future = field(compare=False)


class AdmissionQueue:
    def __init__(self, *, concurrency: int, max_queue: int, overflow: str):
        if overflow not in ("block", "reject"):
            raise ValueError(f"overflow must be 'block' or 'reject', got {overflow!r}")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.overflow = overflow
        self.in_flight = 0
        self._heap: list[_Waiter] = []
        self._queued = 0  # live (not cancelled) entries in the heap
        self._reserved = 0  # room promised to woken blocked submitters
        self._blocked: deque[asyncio.Future] = deque()
        self._seq = itertools.count()

    @property
    def queued(self) -> int:
        """Requests in the queue proper (at most ``max_queue``)."""
        return self._queued + self._reserved

    @property
    def blocked(self) -> int:
        """Callers waiting for room in a full queue (``overflow: block``)."""
        return len(self._blocked)

    @property
    def depth(self) -> int:
        """Requests waiting: in the queue plus those blocked before it."""
        return self._queued + self._reserved + len(self._blocked)

    @asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        """Hold one in-flight slot for the block; raises :class:`QueueFull` when rejected."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: int = 0) -> None:
        if self.in_flight < self.concurrency and self._queued == 0 and self._reserved == 0:
            self.in_flight += 1
            return
        await self._wait_for_room()
        waiter = _Waiter((-priority, next(self._seq)), asyncio.get_running_loop().create_future())
        heapq.heappush(self._heap, waiter)
        self._queued += 1
        self._grant()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release()  # granted, but the request is gone: pass the slot on
            else:  # still waiting (awaiting it cancelled the future): leave the queue
                self._queued -= 1
                self._wake_blocked()
            raise

    async def _wait_for_room(self) -> None:
        if self._queued + self._reserved < self.max_queue and not self._blocked:
            return
        if self.overflow == "reject":
            raise QueueFull(f"the pipeline queue is full ({self.max_queue} waiting, "
                            f"{self.in_flight} in flight); retry later or raise pipeline.max_queue")
        future = asyncio.get_running_loop().create_future()
        self._blocked.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._reserved -= 1
                self._wake_blocked()
            elif future in self._blocked:  # _wake_blocked may have dropped it already
                self._blocked.remove(future)
            raise
        self._reserved -= 1

    def release(self) -> None:
        self.in_flight -= 1
        self._grant()

    def _grant(self) -> None:
        while self.in_flight < self.concurrency and self._heap:
            waiter = heapq.heappop(self._heap)
            if waiter.future.done():  # cancelled while waiting; already uncounted
                continue
            self._queued -= 1
            self.in_flight += 1
            waiter.future.set_result(None)
            self._wake_blocked()

    def _wake_blocked(self) -> None:
        while self._blocked and self._queued + self._reserved < self.max_queue:
            future = self._blocked.popleft()
            if not future.done():
                self._reserved += 1
                future.set_result(None)
