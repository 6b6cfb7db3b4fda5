"""The async iterator :meth:`Pipeline.stream` returns.

The request runs in its own task and hands events over through a queue, so events made for it
by other coroutines (a micro-batch that serves several requests) reach the right reader. The
request starts on the first ``__anext__``; leaving the iteration early — ``break``, an
exception, a cancelled reader, ``aclose()`` — cancels it, which frees its queue entry or slot.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Awaitable, Callable

from .events import Event, Result


class _Ended:
    """Queue sentinel: the request task ended without a result (it raised or was cancelled)."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _report_end(queue: asyncio.Queue, task: asyncio.Task) -> None:
    if task.cancelled():
        queue.put_nowait(_Ended(asyncio.CancelledError()))
    elif task.exception() is not None:
        queue.put_nowait(_Ended(task.exception()))


class EventStream:
    def __init__(self, run: Callable[[Callable[[Event], None]], Awaitable[None]]):
        self._run = run
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._finished = False

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> Event:
        if self._finished:
            raise StopAsyncIteration
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue.put_nowait))
            # the callback must not hold the stream, or a dropped stream could never be collected
            self._task.add_done_callback(functools.partial(_report_end, self._queue))
        try:
            event = await self._queue.get()
        except BaseException:  # the reader was cancelled: the request goes with it, now
            await self.aclose()
            raise
        if isinstance(event, _Ended):
            self._finished = True
            raise event.exc
        if isinstance(event, Result):
            self._finished = True
        return event

    def _cancel(self) -> None:
        self._finished = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Stop reading: cancel the request if it is still running and wait until it is gone."""
        self._cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        task = self._task
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()
