"""Loopback stand-ins for the Anthropic Messages API and the OpenAI Chat Completions API.

Tests point the real SDKs at these servers (``base_url``), so retries, ``retry-after``
headers, error bodies, malformed replies and server-sent-event streaming all go through the
SDKs' own HTTP code, with no mocks of client objects. A server answers from a script: a list
of :class:`Reply` values (or callables that build one from the :class:`RecordedRequest`),
one per request, repeating the last one when the script runs out::

    with AnthropicStandin(AnthropicStandin.error(429, retry_after="0.01"),
                          AnthropicStandin.analyst(reading, "The summary.")) as server:
        client = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="test")

Each server runs in a daemon thread on 127.0.0.1 with a free port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Sequence, Union

__all__ = ["Reply", "RecordedRequest", "StandinServer", "AnthropicStandin", "OpenAIStandin",
           "SAMPLE_READING"]

#: a valid initial reading for a stand-in "model" to send (scenarios deliberately out of order)
SAMPLE_READING: dict[str, Any] = {
    "emotions": {"joy": 0.1, "trust": 0.6, "fear": 0.5, "surprise": 0.1, "sadness": 0.2,
                 "disgust": 0.1, "anger": 0.3},
    "stakeholders": ["me", "my friend", "our employer"],
    "scenarios": [
        {"type": "pessimistic", "action": "lie", "outcome": "found out", "ethical_implications": "dishonest"},
        {"type": "optimistic", "action": "refuse kindly", "outcome": "friend understands",
         "ethical_implications": "honest and caring"},
        {"type": "neutral", "action": "stall", "outcome": "tension", "ethical_implications": "evasive"},
    ],
    "ethics": ["honesty", "loyalty"],
    "regret_factors": ["losing the friendship"],
}


@dataclass
class Reply:
    """One scripted HTTP answer.

    ``json`` is sent as the body; ``body`` (text or bytes) wins over it, for replies that are
    not JSON at all. ``events`` makes it a server-sent-event stream: ``(event_name, data)``
    pairs, data a dict (sent as JSON) or a string, ``event_name`` None for data-only events;
    ``chunk_delay_s`` waits between events. ``delay_s`` waits before answering.
    """

    status: int = 200
    json: Any = None
    body: Union[str, bytes, None] = None
    headers: dict[str, str] = field(default_factory=dict)
    events: Optional[list[tuple[Optional[str], Any]]] = None
    chunk_delay_s: float = 0.0
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    """What the server received (kept for assertions; never printed by the server)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any

    @property
    def wants_stream(self) -> bool:
        return isinstance(self.json, dict) and bool(self.json.get("stream"))


ScriptEntry = Union[Reply, Callable[[RecordedRequest], Reply]]


class StandinServer:
    """A scripted HTTP server on 127.0.0.1; use as a context manager or call start/stop."""

    #: (method, path) pairs the server answers; anything else gets a 404
    routes: tuple[tuple[str, str], ...] = ()

    def __init__(self, *script: ScriptEntry):
        self._lock = threading.Lock()
        self._script: list[ScriptEntry] = []
        self.requests: list[RecordedRequest] = []
        self.script(*script)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- lifecycle
    def start(self) -> "StandinServer":
        server = self

        class Handler(_Handler):
            standin = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "StandinServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the stand-in server is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass to the SDK as ``base_url``."""
        return self.url

    # ------------------------------------------------------------- script
    def script(self, *entries: ScriptEntry) -> None:
        """Replace the replies still to come."""
        if not entries:
            raise ValueError("a stand-in server needs at least one reply in its script")
        with self._lock:
            self._script = list(entries)

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            entry = self._script.pop(0) if len(self._script) > 1 else self._script[0]
        return entry(request) if callable(entry) else entry

    @property
    def posts(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: StandinServer

    def setup(self) -> None:
        super().setup()
        # answers are written in pieces (headers, body, events): without this, Nagle's algorithm
        # and the client's delayed ACK hold every reply back ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test's output should show only what the code under test prints."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        if (self.command, path) not in self.standin.routes:
            self._send(Reply(404, {"error": {"type": "not_found_error",
                                             "message": f"no route {self.command} {path}"}}))
            return
        request = RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, payload)
        self._send(self.standin._next(request))

    def _send(self, reply: Reply) -> None:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.events is not None:
            self._send_events(reply)
            return
        if reply.body is not None:
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            content_type = "text/plain"
        else:
            body = json.dumps(reply.json).encode()
            content_type = "application/json"
        self.send_response(reply.status)
        self.send_header("content-type", reply.headers.get("content-type", content_type))
        self.send_header("content-length", str(len(body)))
        for name, value in reply.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_events(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for i, (event, data) in enumerate(reply.events or []):
                if i and reply.chunk_delay_s:
                    time.sleep(reply.chunk_delay_s)
                text = data if isinstance(data, str) else json.dumps(data)
                frame = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
                self._chunk(frame.encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away mid-stream, as a cancelled request does

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _split(text: str, chunks: int) -> list[str]:
    """``text`` in up to ``chunks`` pieces that concatenate back to it."""
    size = max(1, -(-len(text) // max(1, chunks)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _retry_headers(retry_after: str | None, retry_after_ms: str | None) -> dict[str, str]:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return headers


# ---------------------------------------------------------------------- Anthropic


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
                     headers=_retry_headers(retry_after, retry_after_ms))

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
                return cls.stream(_split(summary, chunks), chunk_delay_s=chunk_delay_s)
            return cls.message(summary)

        return answer


# ---------------------------------------------------------------------- OpenAI


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
                     headers=_retry_headers(retry_after, retry_after_ms))

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
                return cls.stream(_split(summary, chunks), chunk_delay_s=chunk_delay_s)
            return cls.completion(summary)

        return answer

