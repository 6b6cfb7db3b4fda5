"""A loopback stand-in for the OpenAI Chat Completions API, for tests: the real SDK is pointed at it
(``base_url``), so retries, ``retry-after``, error bodies and streaming go through the SDK's own
HTTP code. See :mod:`redheart_core.testing.standin_servers` for the server and its scripts."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Optional, Sequence

from redheart_core.testing.standin_servers import (RecordedRequest, Reply, StandinServer,
                                                  retry_headers, split_text)


class OpenAIStandin(StandinServer):
    """The OpenAI Chat Completions API (``POST /v1/chat/completions``); ``base_url`` ends in /v1."""

    routes = (("POST", "/v1/chat/completions"),)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @staticmethod
    def completion(content: str | None, *, usage: tuple[int, int] = (25, 50), model: str = "gpt-standin",
                   finish_reason: str = "stop", refusal: str | None = None) -> Reply:
        return Reply(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": refusal}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": usage[0] + usage[1]},
        })

    @staticmethod
    def error(status: int, message: str = "scripted error", *, code: str | None = None,
              retry_after: str | None = None, retry_after_ms: str | None = None) -> Reply:
        return Reply(status, {"error": {"message": message, "type": "invalid_request_error"
                                        if status == 400 else "server_error", "param": None, "code": code}},
                     headers=retry_headers(retry_after, retry_after_ms))

    @staticmethod
    def stream(chunks: Sequence[str], *, usage: tuple[int, int] | None = (25, 50), model: str = "gpt-standin",
               chunk_delay_s: float = 0.0, fail_after: int | None = None) -> Reply:
        """A ``stream=True`` reply: chat.completion.chunk events, a usage chunk, then [DONE].

        ``fail_after=n`` sends an error event after ``n`` content chunks instead of finishing.
        """
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        events: list[tuple[Optional[str], Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
        for i, text in enumerate(chunks):
            if fail_after is not None and i == fail_after:
                events.append((None, {"error": {"message": "scripted stream failure", "type": "server_error"}}))
                return Reply(200, events=events, chunk_delay_s=chunk_delay_s)
            events.append((None, chunk({"content": text})))
        events.append((None, chunk({}, "stop")))
        if usage is not None:
            events.append((None, {"id": cid, "object": "chat.completion.chunk", "created": created,
                                  "model": model, "choices": [],
                                  "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                            "total_tokens": sum(usage)}}))
        events.append((None, "[DONE]"))
        return Reply(200, events=events, chunk_delay_s=chunk_delay_s)

    @classmethod
    def analyst(cls, reading: Any, summary: str, *, chunks: int = 4, chunk_delay_s: float = 0.0,
                json_schema_supported: bool = True) -> Callable[[RecordedRequest], Reply]:
        """A model that answers a request with a ``response_format`` with ``reading`` as JSON
        text and anything else with ``summary``. ``json_schema_supported=False`` answers 400 to
        ``response_format: json_schema``, as many OpenAI-compatible servers do."""

        def answer(request: RecordedRequest) -> Reply:
            body = request.json if isinstance(request.json, dict) else {}
            wanted = (body.get("response_format") or {}).get("type")
            if wanted == "json_schema" and not json_schema_supported:
                return cls.error(400, "response_format json_schema is not supported by this server")
            asks_json = "JSON object" in json.dumps(body.get("messages", []))
            if (wanted or asks_json) and not request.wants_stream:
                return cls.completion(json.dumps(reading))
            if request.wants_stream:
                return cls.stream(split_text(summary, chunks), chunk_delay_s=chunk_delay_s)
            return cls.completion(summary)

        return answer
