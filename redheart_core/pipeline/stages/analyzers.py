"""The analyzer stages: the shared embedding and every analyzer, micro-batched."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

from ...analyzers.base import Analyzer
from ...errors import StageFailure, error_type
from ...phases import Stage
from ..batching import MicroBatcher
from ..events import Partial
from .handler import StageHandler

if TYPE_CHECKING:
    from ...analyzers.embedder import Embedder
    from ...memory.manager import UnifiedMemoryManager
    from ..context import RequestContext
    from ..workers import DeviceWorkers


class Waiting(NamedTuple):
    """One request's place in an analyzer micro-batch: its context and the text it analyzes."""

    ctx: "RequestContext"
    text: str


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
        self.batcher: MicroBatcher[Waiting, None] = MicroBatcher(
            self._run_batch, batch_size=batch_size, wait_s=wait_s, could_join=could_join)

    async def run(self, ctx: "RequestContext", text: str) -> None:
        if not self.analyzers:
            return
        ctx.batching = self.name
        try:
            await self.batcher.submit(Waiting(ctx, text))
        finally:
            ctx.batching = None

    async def _run_batch(self, batch: list[Waiting]) -> list[None]:
        async with self.memory.phase(self.phase_name):
            await self._embed([w.ctx for w in batch
                               if w.ctx.embedding is None and w.ctx.embedding_error is None])
            for analyzer in self.analyzers:
                live = [w for w in batch if self._can_run(w.ctx, analyzer)]
                if live:
                    await self._run_analyzer(analyzer, live)
        return [None] * len(batch)

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

    async def _run_analyzer(self, analyzer: Analyzer, batch: list[Waiting]) -> None:
        """One ``analyze_batch`` call; when it fails for a batch of several requests, the batch
        is split in halves and retried, so one bad item never fails the requests batched with it."""
        name = analyzer.name
        items = [w.ctx.analyzer_item(w.text, tuple(analyzer.requires)) for w in batch]
        try:
            # analyzers encode clauses and scenarios through the shared embedder too
            outputs = await self.workers.run(self.memory.run_recovering, analyzer.analyze_batch,
                                             items, analyzer, self.embedder)
            if not isinstance(outputs, (list, tuple)) or len(outputs) != len(items):
                count = len(outputs) if isinstance(outputs, (list, tuple)) else type(outputs).__name__
                raise StageFailure(f"analyze_batch returned {count} outputs for {len(items)} items",
                                   "InvalidOutput")
        except Exception as exc:
            if len(batch) > 1:
                half = len(batch) // 2
                await self._run_analyzer(analyzer, batch[:half])
                await self._run_analyzer(analyzer, batch[half:])
                return
            self._fail(batch[0].ctx, name, f"analyzer {name!r} failed: {exc}",
                       error_type(exc))
            return
        for c, output in zip((w.ctx for w in batch), outputs):
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
