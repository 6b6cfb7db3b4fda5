"""The stage handlers and the routing table that orders them.

A handler does one stage's work for one request; the pipeline around it takes care of the
memory phase, the timeout, retries, timings, events, hooks and logs. The built-in route is
``prepare -> llm_initial -> red_heart -> circuit -> llm_final``; :class:`Router` lets a program
(or a test) add, replace or remove stages at run time. A request keeps the route it was
admitted with, so a change never reaches a request half-way through.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, Sequence

from ..analyzers.base import Analyzer
from ..errors import RedheartError, StageFailure, error_type
from ..llm.backend import LLMBackend
from ..llm.errors import LLMOutputError
from ..llm.usage import usage_meter
from ..phases import Stage
from ..schema import InitialAnalysis
from ..translation import Translator
from .batching import MicroBatcher
from .caveats import unread_note
from .events import Partial, Token

if TYPE_CHECKING:
    from ..analyzers.embedder import Embedder
    from ..memory.manager import UnifiedMemoryManager
    from .context import RequestContext
    from .workers import DeviceWorkers

#: a text whose letters are at least this share Hangul is Korean
HANGUL_RATIO_KO = 0.3


class StageHandler(abc.ABC):
    """Base class of a stage. ``phase`` is the memory phase the pipeline holds around ``run``
    (None: none); a ``retryable`` stage is run again with backoff while ``can_retry`` allows."""

    name: str = "?"
    phase: str | None = None
    retryable: bool = False
    #: the micro-batcher a batching stage gathers requests in (nudged when a request leaves)
    batcher: MicroBatcher[Any, Any] | None = None

    @abc.abstractmethod
    async def run(self, ctx: "RequestContext") -> None:
        """Do the stage's work for one request; raise to record a stage failure."""

    def can_retry(self, ctx: "RequestContext") -> bool:
        return self.retryable

    async def aclose(self) -> None:
        """Finish background work (micro-batches already sent)."""


class Router:
    """The routing table: stage name -> handler, in the order requests take them."""

    def __init__(self, handlers: Sequence[StageHandler] = ()):
        self._handlers: dict[str, StageHandler] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: StageHandler, *, before: str | None = None,
                 after: str | None = None, replace: bool = False) -> None:
        """Add ``handler`` at the end, or ``before``/``after`` a named stage; ``replace``
        swaps the handler of an existing stage in place."""
        name = handler.name
        if name in self._handlers and not replace:
            raise ValueError(f"stage {name!r} already has a handler; pass replace=True to swap it")
        if replace and name in self._handlers:
            self._handlers[name] = handler
            return
        anchor = before or after
        if before and after:
            raise ValueError("give before= or after=, not both")
        if anchor is None:
            self._handlers[name] = handler
            return
        if anchor not in self._handlers:
            raise ValueError(f"unknown stage {anchor!r}; stages: {', '.join(self._handlers)}")
        items = list(self._handlers.items())
        at = [n for n, _ in items].index(anchor) + (1 if after else 0)
        items.insert(at, (name, handler))
        self._handlers = dict(items)

    def remove(self, name: str) -> StageHandler:
        try:
            return self._handlers.pop(name)
        except KeyError:
            raise ValueError(f"unknown stage {name!r}; stages: {', '.join(self._handlers)}") from None

    def handler(self, name: str) -> StageHandler:
        return self._handlers[name]

    def route(self) -> tuple[StageHandler, ...]:
        return tuple(self._handlers.values())

    def names(self) -> list[str]:
        return list(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers


# ---------------------------------------------------------------------------- prepare


_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
_LETTER = re.compile(r"[^\W\d_]")


def detect_language(text: str) -> str:
    """``"ko"`` when Hangul makes up at least 30 % of the letters, else ``"en"``."""
    letters = len(_LETTER.findall(text))
    return "ko" if letters and len(_HANGUL.findall(text)) / letters >= HANGUL_RATIO_KO else "en"


class PrepareStage(StageHandler):
    """Validate, detect the language, translate when a consumer needs English.

    Translation runs micro-batched on the device worker; each batch holds the ``llm`` memory
    phase (the next stage's), so a local model set-up does not swap twice.
    """

    name = Stage.PREPARE

    def __init__(self, *, translator: Translator | None, when: str, llm_english_only: bool,
                 embedder_english_only: bool, memory: "UnifiedMemoryManager", workers: "DeviceWorkers",
                 batch_size: int, wait_s: float, could_join: Callable[[], int] = lambda: 1,
                 embedder_model: str = "the embedder"):
        self.translator = translator
        self.when = when
        self.llm_english_only = llm_english_only
        self.embedder_english_only = embedder_english_only
        self.embedder_model = embedder_model
        self.memory = memory
        self.workers = workers
        self.batcher: MicroBatcher[str, str] | None = None
        if translator is not None and when != "never":
            self.batcher = MicroBatcher(self._translate_batch, batch_size=batch_size,
                                        wait_s=wait_s, could_join=could_join)

    async def _translate_batch(self, texts: list[str]) -> list[str]:
        async with self.memory.phase(Stage.PREPARE.phase):
            if inspect.iscoroutinefunction(self.translator.translate_batch):  # an API call
                translated = await self.translator.translate_batch(texts)
            else:  # torch work: on the device worker, under out-of-memory recovery
                translated = await self.workers.run(self.memory.run_recovering,
                                                    self.translator.translate_batch, texts,
                                                    self.translator)
        if len(translated) != len(texts):
            raise StageFailure(f"the translator returned {len(translated)} texts for {len(texts)}",
                               "TranslationError")
        return list(translated)

    def _wants_translation(self, language: str) -> bool:
        if self.batcher is None or self.translator is None or language != self.translator.source:
            return False
        return self.when == "always" or (
            self.when == "auto" and (self.llm_english_only or self.embedder_english_only))

    async def run(self, ctx: "RequestContext") -> None:
        result = ctx.result
        if not isinstance(result.text, str) or not result.text.strip():
            ctx.stop = True
            raise StageFailure("the text to analyze is empty; give a situation to analyze",
                               "InvalidInput")
        result.language = detect_language(result.text)
        if self._wants_translation(result.language):
            ctx.batching = self.name
            try:
                result.translated_text = await self.batcher.submit(result.text)
            except Exception as exc:
                result.add_error(self.name, f"translation failed, going on with the original "
                                 f"text: {exc}", error_type(exc))
            finally:
                ctx.batching = None
        if result.language == "ko" and result.translated_text is None:
            if self.llm_english_only:
                result.notes.append("the LLM backend reads English only and the Korean text was "
                                    "not translated (set translation.translator)")
            if self.embedder_english_only:
                ctx.unread_by_encoder = True
                result.notes.append(unread_note(self.embedder_model))

    async def aclose(self) -> None:
        if self.batcher is not None:
            await self.batcher.aclose()


# ---------------------------------------------------------------------------- LLM stages


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[str]) -> AsyncIterator[AsyncIterator[str]]:
    """Close an async generator when the block ends, also on cancellation."""
    try:
        yield stream
    finally:
        if isinstance(stream, AsyncGenerator):
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

    async def run(self, ctx: "RequestContext") -> None:
        text = ctx.english_text if self.llm.english_only else ctx.result.text
        with usage_meter() as usage:
            try:
                with reading_replies_of(self.llm):
                    initial = await self.llm.analyze_initial(text)
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

    async def run(self, ctx: "RequestContext") -> None:
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


# ---------------------------------------------------------------------------- analyzers


class AnalyzerStage(StageHandler):
    """Run a stage's analyzers, micro-batched across concurrent requests.

    Per batch, inside the stage's memory phase (held by the batch, not by each waiting request,
    so gathering a batch never holds a phase): embed the texts that have no vector yet (once,
    through the shared embedder), then call each analyzer's ``analyze_batch`` once, in
    dependency order, on the device worker. Both run under the memory manager's out-of-memory
    recovery, so an OOM costs time, never a request.
    An analyzer that raises or answers with the wrong shape is retried on halves of the batch
    until the failing items are isolated; only those fail, their dependents are skipped with an
    error naming it, and the other analyzers and requests go on.
    """

    def __init__(self, name: Stage, analyzers: Sequence[Analyzer], *, embedder: "Embedder | None",
                 memory: "UnifiedMemoryManager",
                 workers: "DeviceWorkers", batch_size: int, wait_s: float,
                 could_join: Callable[[], int] = lambda: 1):
        self.name = name
        self.phase_name = name.phase
        self.analyzers = list(analyzers)
        self.embedder = embedder
        self.memory = memory
        self.workers = workers
        self.batcher: MicroBatcher[RequestContext, None] = MicroBatcher(
            self._run_batch, batch_size=batch_size, wait_s=wait_s, could_join=could_join)

    async def run(self, ctx: "RequestContext") -> None:
        if not self.analyzers:
            return
        ctx.batching = self.name
        try:
            await self.batcher.submit(ctx)
        finally:
            ctx.batching = None

    async def _run_batch(self, ctxs: list["RequestContext"]) -> list[None]:
        async with self.memory.phase(self.phase_name):
            await self._embed([c for c in ctxs if c.embedding is None and c.embedding_error is None])
            for analyzer in self.analyzers:
                live = [c for c in ctxs if self._can_run(c, analyzer)]
                if live:
                    await self._run_analyzer(analyzer, live)
        return [None] * len(ctxs)

    async def _embed(self, ctxs: list["RequestContext"]) -> None:
        if not ctxs or self.embedder is None:
            return
        try:
            vectors = await self.workers.run(self.memory.run_recovering, self.embedder.encode,
                                             [c.english_text for c in ctxs], self.embedder)
            if len(vectors) != len(ctxs):
                raise StageFailure(f"the embedder returned {len(vectors)} vectors for {len(ctxs)} texts",
                                   "EmbeddingError")
        except Exception as exc:
            for c in ctxs:
                c.embedding_error = f"{type(exc).__name__}: {exc}"
                c.result.add_error(self.name, f"the embedder failed: {exc}",
                                   error_type(exc))
            return
        for c, vector in zip(ctxs, vectors):
            c.embedding = vector

    def _can_run(self, ctx: "RequestContext", analyzer: Analyzer) -> bool:
        name = analyzer.name
        if ctx.embedding_error is not None:
            reason = "the text could not be embedded"
        else:
            missing = [r for r in analyzer.requires
                       if r in ctx.failed_analyzers or ctx.output_of(r) is None]
            if not missing:
                return True
            reason = f"it requires {missing[0]!r}, which failed or did not run"
        ctx.failed_analyzers.add(name)
        ctx.result.add_error(self.name, f"analyzer {name!r} skipped: {reason}", "DependencyFailed")
        return False

    async def _run_analyzer(self, analyzer: Analyzer, ctxs: list["RequestContext"]) -> None:
        """One ``analyze_batch`` call; when it fails for a batch of several requests, the batch
        is split in halves and retried, so one bad item never fails the requests batched with it."""
        name = analyzer.name
        items = [c.analyzer_item(tuple(analyzer.requires)) for c in ctxs]
        try:
            # analyzers encode clauses and scenarios through the shared embedder too
            outputs = await self.workers.run(self.memory.run_recovering, analyzer.analyze_batch,
                                             items, analyzer, self.embedder)
            if not isinstance(outputs, (list, tuple)) or len(outputs) != len(items):
                count = len(outputs) if isinstance(outputs, (list, tuple)) else type(outputs).__name__
                raise StageFailure(f"analyze_batch returned {count} outputs for {len(items)} items",
                                   "InvalidOutput")
        except Exception as exc:
            if len(ctxs) > 1:
                half = len(ctxs) // 2
                await self._run_analyzer(analyzer, ctxs[:half])
                await self._run_analyzer(analyzer, ctxs[half:])
                return
            self._fail(ctxs[0], name, f"analyzer {name!r} failed: {exc}",
                       error_type(exc))
            return
        for c, output in zip(ctxs, outputs):
            try:
                if not isinstance(output, dict):
                    raise ValueError(f"expected a dict, got {type(output).__name__}")
                c.record_output(name, output)
            except (ValueError, TypeError) as exc:
                self._fail(c, name, f"analyzer {name!r} returned an invalid output: {exc}", "InvalidOutput")
                continue
            c.emit(Partial(name, output))

    def _fail(self, ctx: "RequestContext", analyzer: str, message: str, type_name: str) -> None:
        ctx.failed_analyzers.add(analyzer)
        ctx.result.add_error(self.name, message, type_name)

    async def aclose(self) -> None:
        await self.batcher.aclose()
