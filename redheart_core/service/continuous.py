"""``redheart analyze --continuous``: one request per input line, one JSON result per output line.

Lines are read by a daemon thread (so Ctrl-C never waits on a blocked ``readline``) and analyzed
concurrently through one pipeline, at most a window of them at a time; results are written in
input order, so the n-th output line answers the n-th non-blank input line. A line that is not a
valid request still gets its line: a result whose ``errors`` name stage ``input``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import TextIO

from omegaconf import DictConfig
from pydantic import ValidationError

from ..pipeline.queue import batch_window
from ..schema import AnalysisResult, StageError
from .payloads import AnalyzeRequest


def parse_line(line: str) -> AnalyzeRequest:
    """A JSON object (``{"text", "priority"?, "request_id"?}``) or, otherwise, the line as text."""
    stripped = line.strip()
    if stripped.startswith("{"):
        return AnalyzeRequest.model_validate_json(stripped)
    return AnalyzeRequest(text=stripped)


def input_error(line: str, number: int, exc: Exception) -> AnalysisResult:
    if isinstance(exc, ValidationError):
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
                            for e in exc.errors())
    else:
        message = str(exc)
    result = AnalysisResult(request_id=f"line-{number}", text=line.strip())
    result.errors.append(StageError(stage="input", type="InvalidRequest",
                                    message=f"input line {number}: {message}"))
    return result


def window_of(config: DictConfig) -> int:
    """Lines in flight at once: enough to fill micro-batches, never more than the queue holds."""
    p = config.pipeline
    return batch_window(p.concurrency, p.max_queue, p.batch_size)


def _read_lines(source: TextIO, lines: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
    try:
        for line in source:
            asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()
        asyncio.run_coroutine_threadsafe(lines.put(None), loop).result()
    except RuntimeError:  # the loop closed first (interrupted): nothing is waiting for lines
        pass


async def run_continuous(config: DictConfig, source: TextIO, sink: TextIO) -> int:
    """Answer every line of ``source`` on ``sink`` until EOF; returns how many results carry errors."""
    from ..pipeline import Pipeline

    window = window_of(config)
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=window)
    pending: asyncio.Queue[asyncio.Task | None] = asyncio.Queue(maxsize=window)
    threading.Thread(target=_read_lines, args=(source, lines, asyncio.get_running_loop()),
                     name="redheart-stdin", daemon=True).start()
    failed = 0
    async with Pipeline.from_config(config) as pipe:

        async def answer(line: str, number: int) -> AnalysisResult:
            try:
                request = parse_line(line)
            except (ValidationError, ValueError) as exc:
                return input_error(line, number, exc)
            return await pipe.analyze(request.text, priority=request.priority,
                                      request_id=request.request_id)

        async def submit() -> None:
            number = 0
            while (line := await lines.get()) is not None:
                if line.strip():
                    number += 1
                    await pending.put(asyncio.create_task(answer(line, number)))
            await pending.put(None)

        submitter = asyncio.create_task(submit())
        try:
            while (task := await pending.get()) is not None:
                result = await task
                sink.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                sink.flush()
                failed += not result.ok
            await submitter
        finally:
            submitter.cancel()
            while not pending.empty():
                task = pending.get_nowait()
                if task is not None:
                    task.cancel()
    return failed


