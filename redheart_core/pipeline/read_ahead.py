"""Reading ahead for batch calls: a batch's texts are encoded before their requests need them.

A request's analyzers embed it in their own micro-batch, which holds at most the requests in
flight (``pipeline.concurrency``), so the encoder would see small batches of mixed lengths.
A batch call (:meth:`.Pipeline.analyze_each`) knows its texts in advance: :class:`ReadAhead`
encodes them in chunks of several micro-batches, which the encoder sorts by length, one chunk
ahead of the requests that will read them from the shared embedder's cache. On the CPU the
chunks are encoded beside the device worker, while the analyzers of earlier requests run.

The vectors are the ones a request's own stage would compute (the encoder is batch
invariant), so reading ahead changes how fast, never what. It is only ever a head start: a
chunk that fails to encode is logged and its requests encode their texts themselves, where a
failure is recorded in their results.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Sequence

log = logging.getLogger("redheart.pipeline")


class ReadAhead:
    """Encodes ``texts`` in chunks of ``chunk``, each started when a request of the chunk
    before it gets its turn. ``readable(text)`` says whether a text reaches the encoder as
    given (not translated, not rejected), ``encode(texts)`` encodes them into the cache."""

    def __init__(self, texts: Sequence[str], *, chunk: int,
                 readable: Callable[[str], bool], encode: Callable[[list[str]], Awaitable[object]]):
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.chunk = chunk
        self._chunks = [[t for t in texts[i:i + chunk] if readable(t)]
                        for i in range(0, len(texts), chunk)]
        self._encode = encode
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def ready(self, index: int) -> None:
        """Return once the chunk holding text ``index`` is encoded (or failed to be), with the
        next chunk started."""
        number = index // self.chunk
        task = self._start(number)
        self._start(number + 1)
        if task is not None:
            await asyncio.shield(task)  # one request giving up does not cancel the chunk

    def _start(self, number: int) -> "asyncio.Task[None] | None":
        if number >= len(self._chunks) or not self._chunks[number]:
            return None
        task = self._tasks.get(number)
        if task is None:
            task = self._tasks[number] = asyncio.ensure_future(self._read(number))
        return task

    async def _read(self, number: int) -> None:
        texts = self._chunks[number]
        try:
            await self._encode(texts)
        except Exception as exc:
            log.debug("reading %d texts ahead failed (%s: %s); their requests encode them",
                      len(texts), type(exc).__name__, exc,
                      extra={"event": "read_ahead_failed"})

    async def aclose(self) -> None:
        """Cancel chunks not yet encoded (the batch call ended early)."""
        pending = [t for t in self._tasks.values() if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
