"""A loopback stand-in for the Anthropic Messages API, for tests: the real SDK is pointed at it
(``base_url``), so retries, ``retry-after``, error bodies and streaming go through the SDK's own
HTTP code. See :mod:`redheart_core.testing.standin_servers` for the server and its scripts."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Optional, Sequence

from redheart_core.testing.standin_servers import (RecordedRequest, Reply, StandinServer,
                                                  retry_headers, split_text)


class AnthropicStandin(StandinServer):
    """The Anthropic Messages API (``POST /v1/messages``); ``base_url`` is the server root."""

    routes = (("POST", "/v1/messages"),)

    @staticmethod
    def message(text: str | None = None, *, tool_input: Any = None, tool_name: str = "initial_reading",
                usage: tuple[int, int] = (25, 50), model: str = "claude-standin",
                stop_reason: str | None = None) -> Reply:
        """A complete Message: a text block and/or a ``tool_use`` block."""
        content: list[dict[str, Any]] = []
        if text is not None:
            content.append({"type": "text", "text": text})
        if tool_input is not None:
            content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}",
                            "name": tool_name, "input": tool_input})
        return Reply(200, {
            "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
            "model": model, "content": content,
            "stop_reason": stop_reason or ("tool_use" if tool_input is not None else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        })

    @staticmethod
    def error(status: int, message: str = "scripted error", *, error_type: str | None = None,
              retry_after: str | None = None, retry_after_ms: str | None = None) -> Reply:
        """An API error body as Anthropic sends it (429 rate_limit_error, 529 overloaded_error...)."""
        kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                 429: "rate_limit_error", 529: "overloaded_error"}
        kind = error_type or kinds.get(status, "api_error")
        return Reply(status, {"type": "error", "error": {"type": kind, "message": message}},
                     headers=retry_headers(retry_after, retry_after_ms))

    @staticmethod
    def stream(chunks: Sequence[str], *, usage: tuple[int, int] = (25, 50), model: str = "claude-standin",
               chunk_delay_s: float = 0.0, fail_after: int | None = None) -> Reply:
        """A streamed text reply as Messages API server-sent events.

        ``fail_after=n`` sends an ``error`` event after ``n`` text deltas instead of finishing.
        """
        msg_id = f"msg_{uuid.uuid4().hex[:12]}"
        events: list[tuple[Optional[str], Any]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": usage[0], "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
        ]
        for i, chunk in enumerate(chunks):
            if fail_after is not None and i == fail_after:
                events.append(("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                     "message": "scripted stream failure"}}))
                return Reply(200, events=events, chunk_delay_s=chunk_delay_s)
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": chunk}}))
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                  "stop_sequence": None},
                               "usage": {"output_tokens": usage[1]}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        return Reply(200, events=events, chunk_delay_s=chunk_delay_s)

    @classmethod
    def analyst(cls, reading: Any, summary: str, *, chunks: int = 4,
                chunk_delay_s: float = 0.0) -> Callable[[RecordedRequest], Reply]:
        """A model that answers a forced tool call with ``reading`` and anything else with
        ``summary`` (streamed in ``chunks`` pieces when the request asks to stream)."""

        def answer(request: RecordedRequest) -> Reply:
            body = request.json if isinstance(request.json, dict) else {}
            if body.get("tools"):
                return cls.message(tool_input=reading, tool_name=body["tools"][0]["name"])
            if request.wants_stream:
                return cls.stream(split_text(summary, chunks), chunk_delay_s=chunk_delay_s)
            return cls.message(summary)

        return answer
