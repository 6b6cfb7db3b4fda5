"""The loopback HTTP server that vendor stand-ins build on; each vendor's lives with its plugin
(``redheart_plugins_claude.standin.AnthropicStandin``, ``redheart_plugins_openai.standin.OpenAIStandin``).

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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union

__all__ = ["Reply", "RecordedRequest", "StandinServer", "SAMPLE_READING", "split_text",
           "retry_headers"]

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


def split_text(text: str, chunks: int) -> list[str]:
    """``text`` in up to ``chunks`` pieces that concatenate back to it."""
    size = max(1, -(-len(text) // max(1, chunks)))
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def retry_headers(retry_after: str | None, retry_after_ms: str | None) -> dict[str, str]:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return headers
