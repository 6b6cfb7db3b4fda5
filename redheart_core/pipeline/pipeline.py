"""The pipeline: asynchronous between requests, step-synchronised within one.

Requests wait in a bounded priority queue for one of ``pipeline.concurrency`` slots, then walk
the routing table stage by stage. Every stage of a request starts only after its previous stage
ended (each request is one task that awaits its stages in turn), inside the memory phase the
stage needs, under ``pipeline.stage_timeout_s``; retryable stages are retried with backoff. A
stage failure is recorded in the result and the request goes on; nothing one request does
reaches another. Torch work runs on one worker thread per device.

:meth:`Pipeline.analyze` is :meth:`Pipeline.stream` read to its end, so there is one code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Sequence

from omegaconf import DictConfig

from ..analyzers.base import Analyzer
from ..capabilities import HasProvenance
from ..errors import RedheartError, error_type
from ..llm.backend import LLMBackend
from ..secrets import redact_text, register_secrets
from ..phases import ANALYZER_STAGES, Stage
from ..runtime import Runtime
from ..schema import AnalysisResult, LLMPart, MemoryPart, Provenance, StageError, TaskMessage
from .caveats import lower_confidences
from .context import RequestContext
from .events import Event, Result, StageFinished, StageStarted
from .read_ahead import ReadAhead
from .queue import AdmissionQueue, QueueFull, batch_window
from .stages import (AnalyzerStage, LLMFinalStage, LLMInitialStage, PrepareStage, Router,
                     StageHandler)
from .state import PipelineState, StageCounts
from .stream import EventStream
from .workers import DeviceWorkers

if TYPE_CHECKING:
    from ..analyzers.embedder import Embedder
    from ..memory.manager import UnifiedMemoryManager
    from ..plugins import PluginRegistry

log = logging.getLogger("redheart.pipeline")

#: first retry waits this long; each further one twice as long, up to RETRY_BACKOFF_MAX_S
RETRY_BACKOFF_S = 0.1
RETRY_BACKOFF_MAX_S = 2.0
#: a batch call's texts are encoded ahead in chunks of this many micro-batches
READ_AHEAD_BATCHES = 4


def retry_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    return min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2 ** (attempt - 1))


class Pipeline:
    """Run analyses for one config. Use as an async context manager::

        async with Pipeline.from_config(cfg) as pipe:
            result = await pipe.analyze("text")
    """

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        settings = runtime.config.pipeline
        self.retries = int(settings.retries)
        self.stage_timeout_s = float(settings.stage_timeout_s)
        self.batch_size = int(settings.batch_size)
        self.batch_wait_s = float(settings.batch_wait_ms) / 1000.0
        self.queue = AdmissionQueue(concurrency=int(settings.concurrency),
                                    max_queue=int(settings.max_queue),
                                    overflow=str(settings.overflow))
        self.state = PipelineState()
        self.router = Router()
        self.memory: UnifiedMemoryManager | None = None
        self.llm: LLMBackend | None = None
        self.workers: DeviceWorkers | None = None
        self._embedder: Embedder | None = None
        self._prepare: PrepareStage | None = None
        self._active: dict[int, RequestContext] = {}
        self._tasks: set[asyncio.Task] = set()
        self._entered = False

    @classmethod
    def from_config(cls, config: DictConfig, registry: "PluginRegistry | None" = None) -> "Pipeline":
        return cls(Runtime(config, registry))

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "Pipeline":
        """Build the LLM backend, the analyzers and the shared services now, so a config error
        (a missing API key, a bad option) surfaces before any work is accepted."""
        rt = self.runtime
        cfg = rt.config
        register_secrets(cfg)
        self.llm = rt.llm
        try:
            self._build(rt, cfg)
        except BaseException:
            await self.llm.aclose()
            raise
        self._entered = True
        return self

    def _build(self, rt: Runtime, cfg: DictConfig) -> None:
        self._backend_name = str(cfg.llm.backend)
        analyzers = rt.analyzers
        self.memory = rt.memory
        embedder = rt.embedder if analyzers else None  # no analyzers: no model to load
        when = str(cfg.translation.when)
        translator = rt.translator if when != "never" else None
        self.workers = DeviceWorkers(str(self.memory.device))

        by_stage: dict[Stage, list[Analyzer]] = {stage: [] for stage in ANALYZER_STAGES}
        for analyzer in analyzers:
            by_stage[rt.stage_of(analyzer)].append(analyzer)
        batching = dict(workers=self.workers, batch_size=self.batch_size, wait_s=self.batch_wait_s)
        self._embedder = embedder
        self._prepare = PrepareStage(
            translator=translator, when=when, llm_english_only=bool(self.llm.english_only),
            embedder_english_only=embedder is not None and embedder.english_only,
            embedder_model=embedder.model_id if embedder is not None else "the embedder",
            memory=self.memory, could_join=lambda: self._could_join(Stage.PREPARE), **batching)
        self.router = Router([
            self._prepare,
            LLMInitialStage(self.llm),
            *(AnalyzerStage(stage, by_stage[stage], embedder=embedder, memory=self.memory,
                            could_join=lambda stage=stage: self._could_join(stage), **batching)
              for stage in ANALYZER_STAGES),
            LLMFinalStage(self.llm),
        ])
        self._models = self._provenance_models(analyzers, embedder)
        self._versions = rt.registry.versions()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Let requests in flight finish (cancel them if the block is being abandoned with an
        error), then close the backend and stop the worker threads."""
        self._entered = False
        try:
            if self._tasks:
                if exc_type is not None:
                    for task in self._tasks:
                        task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            for handler in self.router.route():
                await handler.aclose()
        finally:
            try:
                await self.llm.aclose()
            finally:
                if self.workers is not None:
                    self.workers.shutdown()

    def _provenance_models(self, analyzers: Sequence[Analyzer],
                           embedder: "Embedder | None") -> dict[str, str]:
        models: dict[str, str] = {}
        if self.llm.model:
            models["llm"] = str(self.llm.model)
        if embedder is not None:
            models["embedder"] = embedder.model_id
        for part in (self.llm, embedder, *analyzers):
            if isinstance(part, HasProvenance):
                models.update({str(k): str(v) for k, v in (part.provenance() or {}).items()})
        return models

    # ------------------------------------------------------------------ public API
    def stream(self, text: str, *, priority: int = 0, request_id: str | None = None,
               namespace: str = "") -> EventStream:
        """Run one analysis and yield its events; the last is always one :class:`Result`.
        ``namespace`` is the caller's experience namespace: its past decisions are the only
        ones this request recalls, and its decision is stored there."""
        request = self._request(text, priority, request_id, namespace)
        return EventStream(lambda emit: self._drive(request, text, emit))

    async def analyze(self, text: str, *, priority: int = 0, request_id: str | None = None,
                      namespace: str = "") -> AnalysisResult:
        """One analysis; a stage failure is recorded in ``result.errors``, never raised. A full
        queue under ``pipeline.overflow: reject`` raises :class:`QueueFull`.

        The request runs in its own task, as a stream's does, but only its result is kept: its
        other events are dropped where they are made instead of waking this caller one by one.
        """
        request = self._request(text, priority, request_id, namespace)
        results: list[AnalysisResult] = []

        def keep(event: Event) -> None:
            if isinstance(event, Result):
                results.append(event.result)

        task = asyncio.get_running_loop().create_task(self._drive(request, text, keep))
        try:
            await task
        except asyncio.CancelledError:  # the caller gave up: the request goes with it, now
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        if not results:
            raise RuntimeError("the request ended without a result")  # _drive always emits one
        return results[0]

    def _request(self, text: str, priority: int, request_id: str | None,
                 namespace: str) -> TaskMessage:
        self._check_entered()
        return TaskMessage(request_id=request_id or uuid.uuid4().hex, text=text,
                           priority=priority, submitted_at=time.time(), namespace=namespace)

    @property
    def window(self) -> int:
        """Requests one batch keeps in the pipeline at once: enough to fill every slot and the
        next micro-batch, never more than the queue holds."""
        return batch_window(self.queue.concurrency, self.queue.max_queue, self.batch_size)

    async def analyze_each(self, texts: Sequence[str], *, priority: int = 0, namespace: str = "",
                           request_ids: Sequence[str] | None = None) -> list[AnalysisResult | QueueFull]:
        """Each text's outcome, in input order: its result, or the :class:`QueueFull` that
        turned it away (``pipeline.overflow: reject``). At most :attr:`window` of them are in
        the pipeline at once, so a large batch takes turns with other callers' requests instead
        of queueing ahead of all of them. Their texts are encoded ahead of them in full,
        length-sorted chunks (:class:`~.read_ahead.ReadAhead`), which changes no result.
        ``request_ids``, one per text, name the requests (fresh ids by default)."""
        self._check_entered()
        if request_ids is not None and len(request_ids) != len(texts):
            raise ValueError(f"analyze_each: {len(request_ids)} request ids for {len(texts)} texts")
        turns = asyncio.Semaphore(self.window)
        ahead = self._read_ahead(texts)

        async def one(index: int, text: str) -> AnalysisResult | QueueFull:
            async with turns:
                if ahead is not None:
                    await ahead.ready(index)
                try:
                    return await self.analyze(text, priority=priority, namespace=namespace,
                                              request_id=None if request_ids is None else request_ids[index])
                except QueueFull as exc:
                    return exc

        try:
            return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(texts))))
        finally:
            if ahead is not None:
                await ahead.aclose()

    @property
    def read_ahead_chunk(self) -> int:
        """Texts a batch call encodes ahead at a time: ``READ_AHEAD_BATCHES`` micro-batches, at
        most a quarter of the embedder's cache (the three chunks read ahead and the requests' own
        scenario texts must fit); 0 when nothing is read ahead (no analyzers, a cache of fewer
        than four texts, or entering the analyzers' memory phase would move modules: a swap is
        scheduled by the requests themselves)."""
        self._check_entered()
        embedder = self._embedder
        if embedder is None or not self.memory.is_free(Stage.RED_HEART.phase):
            return 0
        return min(READ_AHEAD_BATCHES * self.batch_size, embedder.cache_size // 4)

    def _read_ahead(self, texts: Sequence[str]) -> ReadAhead | None:
        """A :class:`ReadAhead` for a batch call's texts, if any are worth reading ahead."""
        size = self.read_ahead_chunk
        embedder, memory = self._embedder, self.memory
        phase = Stage.RED_HEART.phase
        if not size or embedder is None or len(texts) < 2:
            return None

        async def encode(chunk: list[str]) -> None:
            async with memory.phase(phase):
                await self.workers.run_beside(memory.run_recovering, embedder.encodings, chunk,
                                              embedder)

        return ReadAhead(texts, chunk=size, first=min(size, self.batch_size),
                         readable=self._prepare.reads_as_is, encode=encode)

    async def analyze_many(self, texts: Sequence[str], *, priority: int = 0,
                           namespace: str = "") -> list[AnalysisResult]:
        """Analyses of ``texts``, results in input order (see :meth:`analyze_each`). A full
        queue under ``pipeline.overflow: reject`` raises the first :class:`QueueFull` once
        every other text has finished; :meth:`analyze_each` keeps those results."""
        outcomes = await self.analyze_each(texts, priority=priority, namespace=namespace)
        for outcome in outcomes:
            if isinstance(outcome, QueueFull):
                raise outcome
        return outcomes  # type: ignore[return-value]  (no QueueFull is left)

    def stats(self) -> dict[str, Any]:
        """Per-stage counts, queue depth, requests in flight, totals by outcome, LLM retries."""
        snapshot = self.state.snapshot()
        snapshot["queue_depth"] = self.queue.depth
        if self.llm is not None:
            snapshot["llm_retries_total"] += self.llm.retries_total
        return snapshot

    def _check_entered(self) -> None:
        if not self._entered:
            raise RuntimeError("the pipeline is not running; use "
                               "'async with Pipeline.from_config(cfg) as pipe:'")

    # ------------------------------------------------------------------ one request
    async def _drive(self, request: TaskMessage, text: str, emit: Callable[[Event], None]) -> None:
        """Admit ``request`` (or raise :class:`QueueFull`), run its ``text`` through the
        stages, emit its result."""
        started = time.perf_counter()
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            async with self.queue.slot(request.priority):
                await self._run_admitted(request, text, emit, started)
        except QueueFull as exc:
            exc.request_id = request.request_id
            self.state.requests_total["rejected"] += 1
            log.info("request %s rejected: %s", request.request_id, exc,
                     extra={"event": "request_rejected", "request_id": request.request_id})
            raise
        except asyncio.CancelledError:
            self.state.requests_total["cancelled"] += 1
            log.info("request %s cancelled", request.request_id,
                     extra={"event": "request_cancelled", "request_id": request.request_id})
            raise
        finally:
            self._tasks.discard(task)

    async def _run_admitted(self, request: TaskMessage, text: str, emit: Callable[[Event], None],
                            started: float) -> None:
        result = AnalysisResult(request_id=request.request_id, text=text,
                                llm=LLMPart(backend=self._backend_name, model=self.llm.model))
        ctx = RequestContext(request=request, result=result, emit=emit, route=self.router.route())
        self._active[id(ctx)] = ctx
        self.runtime.registry.notify("redheart_request_started", request=request)
        swaps_before = self._swaps()
        try:
            await self._run_stages(ctx, text)
            status = "complete" if result.ok else "failed"
        finally:
            del self._active[id(ctx)]
            ctx.position = len(ctx.route)
            for handler in ctx.route:
                if handler.batcher is not None:
                    handler.batcher.nudge()
        result.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 3)
        result.memory = self._memory_part(swaps_before)
        result.provenance = Provenance(config_hash=self.runtime.config_hash,
                                       plugins=dict(self._versions), models=dict(self._models))
        self.state.requests_total[status] += 1
        self.runtime.registry.notify("redheart_request_finished", result=result)
        if log.isEnabledFor(logging.INFO):
            log.info("request %s %s in %.1f ms", request.request_id, status, result.timings_ms["total"],
                     extra={"event": "request_finished", "request_id": request.request_id,
                            "duration_ms": result.timings_ms["total"], "status": status,
                            "error": _error_text(result.errors[0]) if result.errors else None})
        emit(Result(result))

    async def _run_stages(self, ctx: RequestContext, text: str) -> None:
        self.state.in_flight += 1
        try:
            last_analyzers = max((i for i, h in enumerate(ctx.route) if isinstance(h, AnalyzerStage)),
                                 default=-1)
            for index, handler in enumerate(ctx.route):
                ctx.position = index
                await self._run_stage(ctx, handler, text)
                if index == last_analyzers and ctx.unread_by_encoder:
                    lower_confidences(ctx.result)
                if ctx.stop:
                    break
        finally:
            self.state.in_flight -= 1

    async def _run_stage(self, ctx: RequestContext, handler: StageHandler, text: str) -> None:
        name = handler.name
        result = ctx.result
        counts = self.state.stage(name)
        errors_before = len(result.errors)
        ctx.emit(StageStarted(name))
        started = time.perf_counter()
        counts.queued += 1
        try:
            async with asyncio.timeout(self.stage_timeout_s):
                await self._attempts(ctx, handler, counts, text)
        except TimeoutError:
            result.add_error(name, f"stage {name!r} took longer than {self.stage_timeout_s:g} s "
                             "(pipeline.stage_timeout_s)", "StageTimeout")
        finally:
            counts.queued -= 1
        seconds = time.perf_counter() - started
        errors = [e for e in result.errors[errors_before:] if e.stage == name]
        for recorded in errors:  # an exception's text may quote a key; results are shown and stored
            recorded.message = redact_text(recorded.message)
        if errors:
            counts.failed += 1
        else:
            counts.done += 1
        duration_ms = result.timings_ms[name] = round(seconds * 1000, 3)
        error = errors[0] if errors else None
        ctx.emit(StageFinished(name, duration_ms, error))
        self.runtime.registry.notify("redheart_stage_finished", request=ctx.request, stage=name,
                                     seconds=seconds, error=error)
        level = logging.WARNING if error else logging.INFO  # a failed stage is worth a look
        if log.isEnabledFor(level):
            log.log(level, "request %s stage %s %s in %.1f ms", ctx.request.request_id, name,
                    "failed" if error else "finished", duration_ms,
                    extra={"event": "stage_finished", "request_id": ctx.request.request_id,
                           "stage": name, "duration_ms": duration_ms,
                           "error": _error_text(error) if error else None})

    async def _attempts(self, ctx: RequestContext, handler: StageHandler,
                        counts: StageCounts, text: str) -> None:
        """Run the handler inside its memory phase; retry a retryable stage with backoff (the
        phase is let go while waiting); record the final failure."""
        attempt = 0
        while True:
            try:
                async with self._phase(handler.phase):
                    counts.queued -= 1
                    counts.running += 1
                    try:
                        await handler.run(ctx, text)
                    finally:
                        counts.running -= 1
                        counts.queued += 1
                return
            except Exception as exc:
                if (handler.retryable and attempt < self.retries and handler.can_retry(ctx)
                        and _retryable(exc)):
                    attempt += 1
                    self.state.llm_retries_total += 1
                    delay = retry_delay(attempt)
                    log.info("request %s stage %s failed (%s: %s); retry %d of %d in %.2f s",
                             ctx.request.request_id, handler.name, type(exc).__name__, exc, attempt,
                             self.retries, delay,
                             extra={"event": "stage_retry", "request_id": ctx.request.request_id,
                                    "stage": handler.name, "error": f"{type(exc).__name__}: {exc}"})
                    await asyncio.sleep(delay)
                    continue
                message = str(exc) or type(exc).__name__
                if attempt:
                    message += f" (gave up after {attempt + 1} attempts)"
                ctx.result.add_error(handler.name, message,
                                     error_type(exc))
                return

    # ------------------------------------------------------------------ helpers
    def _phase(self, name: str | None) -> contextlib.AbstractAsyncContextManager[None]:
        return self.memory.phase(name) if name else contextlib.nullcontext()

    def _could_join(self, stage: str) -> int:
        """How many requests could still add an item to ``stage``'s micro-batch soon: those in
        flight before it, and those waiting for admission as far as slots can free up for them
        (free slots and slots of requests past the stage; not those of the batch's own)."""
        upstream = downstream = not_started = 0
        for ctx in self._active.values():
            index = ctx.stage_index(stage)
            if index < 0:
                continue
            if ctx.position < 0:
                not_started += 1
            elif ctx.position < index or (ctx.position == index and ctx.batching != stage):
                upstream += 1
            elif ctx.position > index:
                downstream += 1
        waiting = min(not_started, self.queue.depth)
        admitted = not_started - waiting  # granted a slot, not yet running
        free = max(0, self.queue.concurrency - self.queue.in_flight)
        return upstream + admitted + min(waiting, downstream + free)

    def _swaps(self) -> int:
        stats = self.memory.stats()
        return int(stats.get("swaps_in", 0)) + int(stats.get("swaps_out", 0))

    def _memory_part(self, swaps_before: int) -> MemoryPart:
        return MemoryPart(strategy=str(self.memory.strategy_name), device=str(self.memory.device),
                          peak_gpu_bytes=int(self.memory.peak_gpu_bytes()),
                          swaps=self._swaps() - swaps_before)


def _retryable(exc: BaseException) -> bool:
    """Any exception may be retried but a :class:`RedheartError` marked ``retryable = False``."""
    return not isinstance(exc, RedheartError) or exc.retryable


def _error_text(error: StageError) -> str:
    return f"{error.type}: {error.message}"


def analyze(text: str, config: DictConfig | None = None, *, priority: int = 0,
            request_id: str | None = None) -> AnalysisResult:
    """Synchronous convenience: one analysis with a pipeline built for ``config`` (defaults when
    None). Inside a running event loop use ``await pipe.analyze(...)`` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("redheart_core.analyze() cannot run inside an event loop; use "
                           "'async with Pipeline.from_config(cfg) as pipe: await pipe.analyze(text)'")
    if config is None:
        from ..config import load_config

        config = load_config()

    async def run() -> AnalysisResult:
        async with Pipeline.from_config(config) as pipe:
            return await pipe.analyze(text, priority=priority, request_id=request_id)

    return asyncio.run(run())
