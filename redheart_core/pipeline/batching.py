"""Micro-batching: gather items from concurrent requests into one call.

A batch is sent when it holds ``batch_size`` items, when ``wait_s`` has passed since its first
item arrived, or as soon as no other request could still join it (``could_join()`` returns 0;
checked again after the tasks already ready to run had their turn), so a lone request never
waits for company that is not coming. A request cancelled while its
item waits is taken out of the batch; one cancelled while its batch runs just drops the answer.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    def __init__(self, run_batch: Callable[[list[T]], Awaitable[Sequence[R]]], *, batch_size: int,
                 wait_s: float, could_join: Callable[[], int] = lambda: 1):
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.could_join = could_join
        self.batches_run = 0
        self._pending: list[tuple[T, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.Handle | None = None
        self._running: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def submit(self, item: T) -> R:
        """Add ``item`` to the next batch and wait for its own answer."""
        loop = asyncio.get_running_loop()
        entry = (item, loop.create_future())
        self._pending.append(entry)
        if len(self._pending) >= self.batch_size:
            self._flush()
        else:
            if self._timer is None:
                self._timer = loop.call_later(self.wait_s, self._flush)
            if self.could_join() <= 0 and self._soon is None:
                self._soon = loop.call_soon(self._flush_if_alone)
        try:
            return await entry[1]
        except asyncio.CancelledError:
            if entry in self._pending:
                self._pending.remove(entry)
                if not self._pending:
                    self._cancel_handles()
            raise

    def nudge(self) -> None:
        """Send the waiting batch now if nobody else can join it (called when a request leaves)."""
        if self._pending and self.could_join() <= 0:
            self._flush()

    def _flush_if_alone(self) -> None:
        self._soon = None
        if self._pending and self.could_join() <= 0:
            self._flush()

    def _cancel_handles(self) -> None:
        for handle in (self._timer, self._soon):
            if handle is not None:
                handle.cancel()
        self._timer = self._soon = None

    def _flush(self) -> None:
        self._cancel_handles()
        while self._pending:
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size:]
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        self.batches_run += 1
        try:
            answers = await self.run_batch([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a bug in the batch function: every caller hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(answers) != len(batch):
            error = RuntimeError(f"batch function returned {len(answers)} answers for {len(batch)} items")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)

    async def aclose(self) -> None:
        """Wait for batches already sent."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
