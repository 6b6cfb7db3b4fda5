"""``redheart analyze --continuous``: one request per input line, one JSON result per output line.

Lines are read as bytes by a daemon thread (so Ctrl-C never waits on a blocked ``readline``)
and analyzed concurrently through one pipeline, at most a window of them at a time; results are
written in input order, so the n-th output line answers the n-th non-blank input line. A line that is not a
valid request (not UTF-8, longer than ``server.max_chars``, malformed) still gets its line: a
result whose ``errors`` name stage ``input``; output is always valid UTF-8.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from omegaconf import DictConfig
from pydantic import ValidationError

from ..pipeline.queue import QueueFull, batch_window
from ..schema import AnalysisResult, StageError
from ..textinput import InputError, check_length, decode_utf8
from .errors import rejected_result
from .payloads import AnalyzeRequest


#: how much of an overlong line an error result shows
SHOWN_CHARS = 200


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


@dataclass(frozen=True)
class Line:
    """One input line as read: its text, or why it cannot be a request (then ``text`` is what
    can be shown of it)."""

    text: str
    error: InputError | None = None


def line_limit(config: DictConfig) -> int:
    """Most bytes a line may take: a JSON request holding a text of ``server.max_chars``
    characters, each escaped as ``\\uXXXX\\uXXXX`` at worst."""
    return 12 * int(config.server.max_chars) + 4096


def read_line(source: BinaryIO, limit: int) -> Line | None:
    """The next line of ``source`` (None at its end); a line over ``limit`` bytes is skipped
    to its end without being kept, and a line that is not UTF-8 is reported, not decoded."""
    raw = source.readline(limit + 1)
    if not raw:
        return None
    if len(raw) > limit and not raw.endswith(b"\n"):
        while (rest := source.readline(1 << 16)) and not rest.endswith(b"\n"):
            pass
        shown = raw[:SHOWN_CHARS].decode("utf-8", "replace") + "…"
        return Line(shown, InputError(f"the line is longer than {limit} bytes (server.max_chars)"))
    try:
        return Line(decode_utf8(raw, "the line"))
    except InputError as exc:
        return Line(raw.decode("utf-8", "replace"), exc)


def _read_lines(source: BinaryIO, limit: int, lines: asyncio.Queue,
                loop: asyncio.AbstractEventLoop) -> None:
    try:
        while (line := read_line(source, limit)) is not None:
            asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()
        asyncio.run_coroutine_threadsafe(lines.put(None), loop).result()
    except RuntimeError:  # the loop closed first (interrupted): nothing is waiting for lines
        pass


async def run_continuous(config: DictConfig, source: BinaryIO, sink: TextIO) -> int:
    """Answer every line of ``source`` (bytes) on ``sink`` until EOF; returns how many results
    carry errors."""
    from ..pipeline import Pipeline

    window = window_of(config)
    max_chars = int(config.server.max_chars)
    lines: asyncio.Queue[Line | None] = asyncio.Queue(maxsize=window)
    pending: asyncio.Queue[asyncio.Task | None] = asyncio.Queue(maxsize=window)
    threading.Thread(target=_read_lines, args=(source, line_limit(config), lines,
                                               asyncio.get_running_loop()),
                     name="redheart-stdin", daemon=True).start()
    failed = 0
    async with Pipeline.from_config(config) as pipe:

        async def answer(line: Line, number: int) -> AnalysisResult:
            try:
                if line.error is not None:
                    raise line.error
                request = parse_line(line.text)
                check_length(request.text, max_chars, "the text")
            except (ValidationError, ValueError, InputError) as exc:
                return input_error(line.text, number, exc)
            try:
                return await pipe.analyze(request.text, priority=request.priority,
                                          request_id=request.request_id)
            except QueueFull as exc:
                return rejected_result(request.text, exc)

        async def submit() -> None:
            number = 0
            while (line := await lines.get()) is not None:
                if line.text.strip():
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


