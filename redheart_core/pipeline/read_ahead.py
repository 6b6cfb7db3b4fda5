"""Reading ahead for batch calls: a batch's texts are encoded before their requests need them.

A request's analyzers embed it in their own micro-batch, which holds at most the requests in
flight (``pipeline.concurrency``), so the encoder would see small batches of mixed lengths.
A batch call (:meth:`.Pipeline.analyze_each`) knows its texts in advance: :class:`ReadAhead`
encodes them in chunks of several micro-batches, which the encoder sorts by length, ahead of
the requests that will read them from the shared embedder's cache. On the CPU the chunks are
encoded beside the device worker, while the analyzers of earlier requests run.

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
    """Encodes ``texts`` in chunks of ``chunk`` (the first of ``first``, so the analyzers start
    soon), one chunk after another, at most ``ahead`` chunks beyond the furthest chunk a request
    has reached (the cache must keep them). ``readable(text)`` says whether a text reaches the
    encoder as given (not translated, not rejected); ``encode(texts)`` encodes them into the
    cache."""

    def __init__(self, texts: Sequence[str], *, chunk: int, first: int | None = None,
                 ahead: int = 2, readable: Callable[[str], bool],
                 encode: Callable[[list[str]], Awaitable[object]]):
        first = chunk if first is None else first
        if min(chunk, first, ahead) < 1:
            raise ValueError(f"chunk, first and ahead must be at least 1, got {chunk}, {first} "
                             f"and {ahead}")
        self.chunk = chunk
        self.first = min(first, chunk)
        self.ahead = ahead
        starts = [0, *range(self.first, len(texts), chunk)]
        self._chunks = [[t for t in texts[a:b] if readable(t)]
                        for a, b in zip(starts, [*starts[1:], len(texts)]) if a < len(texts)]
        self._encode = encode
        self._done: list[asyncio.Future[None]] | None = None
        self._next = 0  # the next chunk to encode
        self._reached = -1  # the furthest chunk a request has reached
        self._reading: asyncio.Task[None] | None = None
        self._closed = False

    async def ready(self, index: int) -> None:
        """Return once the chunk holding text ``index`` is encoded (or failed to be)."""
        if self._done is None:
            loop = asyncio.get_running_loop()
            self._done = [loop.create_future() for _ in self._chunks]
        number = 0 if index < self.first else 1 + (index - self.first) // self.chunk
        self._reached = max(self._reached, number)
        self._read_next()
        await asyncio.shield(self._done[number])  # one request giving up stops no chunk

    def _read_next(self) -> None:
        if self._closed or self._reading is not None or self._next >= len(self._chunks) \
                or self._next > self._reached + self.ahead:
            return
        number, self._next = self._next, self._next + 1
        self._reading = asyncio.ensure_future(self._read(number))

    async def _read(self, number: int) -> None:
        texts = self._chunks[number]
        try:
            if texts:
                await self._encode(texts)
        except Exception as exc:
            log.debug("reading %d texts ahead failed (%s: %s); their requests encode them",
                      len(texts), type(exc).__name__, exc,
                      extra={"event": "read_ahead_failed"})
        finally:
            self._done[number].set_result(None)
            self._reading = None
        self._read_next()

    async def aclose(self) -> None:
        """Stop reading ahead (the batch call ended): the chunk being encoded is cancelled, and
        a request still waiting goes on to encode its text itself."""
        self._closed = True
        reading = self._reading
        if reading is not None and not reading.done():
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        for done in self._done or ():
            if not done.done():
                done.set_result(None)
