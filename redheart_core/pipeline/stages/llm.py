"""The LLM stages: the initial reading of the situation, and the streamed summary."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, AsyncIterator, Iterator, Protocol, runtime_checkable

from ...errors import RedheartError, StageFailure, error_type
from ...llm.backend import LLMBackend
from ...llm.errors import LLMOutputError
from ...llm.usage import usage_meter
from ...phases import Stage
from ...schema import InitialAnalysis
from ..events import Partial, Token
from .handler import StageHandler

if TYPE_CHECKING:
    from ..context import RequestContext


@runtime_checkable
class _Closable(Protocol):
    """A stream that holds something open until closed: an async generator, or a backend's
    own iterator class with ``aclose``."""

    async def aclose(self) -> None: ...


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[str]) -> AsyncIterator[AsyncIterator[str]]:
    """Close a closable stream when the block ends, also on cancellation."""
    try:
        yield stream
    finally:
        if isinstance(stream, _Closable):
            await stream.aclose()


#: what an SDK raises when it cannot parse a reply (a JSONDecodeError, a failed pydantic
#: validation, an assertion in a stream accumulator, a missing field or a wrong shape)
UNREADABLE = (ValueError, AssertionError, LookupError, TypeError, AttributeError)


@contextlib.contextmanager
def reading_replies_of(llm: LLMBackend) -> Iterator[None]:
    """A reply the backend or its SDK could not read (truncated JSON, a garbled stream) is
    garbage from the vendor: an :class:`LLMOutputError` naming the backend, worth another try.
    Any other exception keeps its own type."""
    try:
        yield
    except UNREADABLE as exc:
        if isinstance(exc, RedheartError):
            raise
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = LLMOutputError(f"{llm.name}: the reply could not be read ({detail})")
        error.retryable = True
        raise error from exc


class LLMInitialStage(StageHandler):
    """The LLM's initial reading; on failure the analyzers go on with the text alone."""

    name = Stage.LLM_INITIAL
    phase = Stage.LLM_INITIAL.phase
    retryable = True

    def __init__(self, llm: LLMBackend):
        self.llm = llm

    async def run(self, ctx: "RequestContext", text: str) -> None:
        with usage_meter() as usage:
            try:
                with reading_replies_of(self.llm):
                    initial = await self.llm.analyze_initial(
                        ctx.english_text if self.llm.english_only else text)
            finally:
                ctx.add_usage(usage)
        if isinstance(initial, dict):
            initial = InitialAnalysis.from_dict(initial)
        if not isinstance(initial, InitialAnalysis):
            raise LLMOutputError(f"LLM backend {self.llm.name!r} returned "
                                 f"{type(initial).__name__} instead of an InitialAnalysis")
        ctx.result.llm.initial = initial
        ctx.emit(Partial("llm.initial", initial))


class LLMFinalStage(StageHandler):
    """The final summary, streamed: each chunk is a ``token`` event; retried only before the
    first chunk was sent (after it, a retry would repeat text the user already read)."""

    name = Stage.LLM_FINAL
    phase = Stage.LLM_FINAL.phase
    retryable = True

    def __init__(self, llm: LLMBackend):
        self.llm = llm

    def can_retry(self, ctx: "RequestContext") -> bool:
        return ctx.tokens_emitted == 0

    async def run(self, ctx: "RequestContext", text: str) -> None:
        chunks: list[str] = []
        with usage_meter() as usage:
            try:
                with reading_replies_of(self.llm):
                    async with _closing(self.llm.stream_summary(ctx.result)) as stream:
                        async for chunk in stream:
                            if not chunk:
                                continue
                            chunks.append(chunk)
                            ctx.tokens_emitted += 1
                            ctx.emit(Token(chunk))
            except Exception as exc:
                if not chunks:
                    raise
                raise StageFailure(f"the summary stream broke after {len(chunks)} chunks: {exc}",
                                   error_type(exc)) from exc
            finally:
                ctx.add_usage(usage)
        ctx.result.llm.summary = "".join(chunks)
