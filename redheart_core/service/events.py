"""Server-sent events: the wire format and the response that closes its stream."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, AsyncIterator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from ..pipeline.events import Event


def encode_sse(event_id: int, event: "Event") -> bytes:
    """One SSE frame of a pipeline event: ``event:`` its type, ``data:`` its JSON form on one
    line (json.dumps escapes newlines, as SSE requires)."""
    payload = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event.type}\ndata: {payload}\n\n".encode()


def encode_sse_error(event_id: int, type_name: str, message: str) -> bytes:
    """The ``error`` frame that ends a stream the server had to cut short (shutdown)."""
    payload = json.dumps({"type": "error", "error": {"type": type_name, "message": message}},
                         ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: error\ndata: {payload}\n\n".encode()


class EventStreamResponse(StreamingResponse):
    """``text/event-stream``; whatever ends the response (the last event, the client leaving,
    server shutdown) also closes the body iterator, and with it the pipeline request."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], status_code: int = 200,
                 headers: dict[str, str] | None = None):
        super().__init__(content, status_code, headers={"Cache-Control": "no-cache",
                                                        "X-Accel-Buffering": "no", **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
