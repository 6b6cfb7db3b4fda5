"""The checks every HTTP request passes before the app sees it, outermost first.

1. **Host**: the ``Host`` header must name this server (``server.allowed_hosts``; by default the
   loopback names and ``server.host``), so a web page cannot reach a loopback service through
   DNS rebinding. Refused: 400 ``InvalidHost``.
2. **Authentication**: with ``server.api_keys`` set, every path but ``/healthz`` and ``/readyz``
   needs ``Authorization: Bearer <key>``; the key is compared in constant time against every
   configured key, and its caller's name becomes the request's experience namespace. Refused:
   401 ``Unauthorized``.
3. **Body**: a body must be ``application/json`` (415), is refused from its ``Content-Length``
   alone when over ``server.max_body_bytes`` (413, nothing kept), is counted while it streams in
   otherwise (413 once over), and must arrive within ``server.body_timeout_s`` (408). Only a body
   that passed is handed to the app, in one piece. After a 413 the server reads and drops the
   rest of the body, so the client can read the answer; the connection's own read deadline
   (:mod:`.connections`) ends a client that keeps trickling.

Every refusal is the service's JSON error envelope and is counted in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from omegaconf import DictConfig
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

if TYPE_CHECKING:
    from .metrics import ServiceMetrics

#: paths that answer without a key: liveness and readiness probes
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
ANY_HOST = "*"
#: the scope["state"] entry holding the caller's name ("" without authentication)
CALLER = "redheart_caller"


@dataclass(frozen=True)
class GuardSettings:
    """What the guard enforces, read once from ``server.*``."""

    #: sha256 of each bearer key -> the caller's name
    key_digests: Mapping[bytes, str]
    #: lower-case host names accepted in the Host header; None: any
    hosts: frozenset[str] | None
    max_body_bytes: int
    body_timeout_s: float

    @classmethod
    def from_config(cls, server: DictConfig) -> "GuardSettings":
        digests = {_digest(str(key)): str(name) for name, key in server.api_keys.items()}
        names = [str(h).lower() for h in server.allowed_hosts]
        if ANY_HOST in names:
            hosts = None
        else:
            bound = str(server.host).lower()
            hosts = frozenset(names or (LOOPBACK_NAMES | ({bound} - WILDCARD_HOSTS)))
        return cls(digests, hosts, int(server.max_body_bytes), float(server.body_timeout_s))


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def host_name(header: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    name, _, port = value.rpartition(":")
    if name and port.isdigit():
        return name
    return value


def caller_of(settings: GuardSettings, authorization: str | None) -> str | None:
    """The caller a bearer key belongs to, or None. Every configured key is compared, each in
    constant time, so the answer takes as long whichever key (if any) matched."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = _digest(token.strip()) if scheme.lower() == "bearer" and token.strip() else b""
    found = None
    for digest, name in settings.key_digests.items():
        if hmac.compare_digest(digest, presented) and found is None:
            found = name
    return found


class Guard:
    """ASGI middleware applying :class:`GuardSettings`; see the module docstring."""

    def __init__(self, app: ASGIApp, settings: GuardSettings, metrics: "ServiceMetrics"):
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._check_host(headers) or self._authenticate(scope, headers)
        if refusal is None and scope["method"] in ("POST", "PUT", "PATCH"):
            refusal = self._check_body_headers(headers)
            if refusal is None:
                body, refusal = await self._read_body(receive)
                if body is None and refusal is None:
                    return  # the client left while sending
                if body is not None:
                    receive = _replay(body, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse(self, status_code: int, status: str, type_name: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
        self.metrics.count(status)
        return JSONResponse(error_body(type_name, message), status_code, headers=headers)

    def _check_host(self, headers: Headers) -> JSONResponse | None:
        hosts = self.settings.hosts
        if hosts is None:
            return None
        raw = headers.get("host")
        name = host_name(raw) if raw is not None else ""
        if name in hosts or (_is_loopback(name) and hosts & LOOPBACK_NAMES):
            return None
        return self._refuse(400, "bad_host", "InvalidHost",
                            f"the Host header {raw!r} does not name this server; allowed: "
                            f"{', '.join(sorted(hosts))} (server.allowed_hosts)")

    def _authenticate(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        scope.setdefault("state", {})[CALLER] = ""
        if not self.settings.key_digests or scope["path"] in OPEN_PATHS:
            return None
        caller = caller_of(self.settings, headers.get("authorization"))
        if caller is None:
            return self._refuse(401, "unauthorized", "Unauthorized",
                                "this server needs an API key: send 'Authorization: Bearer <key>' "
                                "(server.api_keys)", headers={"WWW-Authenticate": "Bearer"})
        scope["state"][CALLER] = caller
        return None

    def _check_body_headers(self, headers: Headers) -> JSONResponse | None:
        content_type = headers.get("content-type")
        media = (content_type or "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return self._refuse(415, "bad_request", "UnsupportedMediaType",
                                "the body must be JSON sent as 'Content-Type: application/json', "
                                f"not {content_type!r}" if content_type else
                                "the body must be JSON sent with 'Content-Type: application/json'")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.settings.max_body_bytes):
            return self._too_large(length)
        return None

    def _too_large(self, length: str | None) -> JSONResponse:
        size = f"of {length} bytes " if length and length.isdigit() else ""
        return self._refuse(413, "too_large", "PayloadTooLarge",
                            f"the body {size}is over the limit of {self.settings.max_body_bytes} "
                            "bytes (server.max_body_bytes)")

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, JSONResponse | None]:
        """The whole body, or the refusal that ended reading it (None, None: the client left)."""
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.settings.body_timeout_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                return None, self._refuse(408, "timeout", "RequestTimeout",
                                          "the body did not arrive within "
                                          f"{self.settings.body_timeout_s:g} s (server.body_timeout_s)",
                                          headers={"Connection": "close"})
            if message["type"] == "http.disconnect":
                return None, None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return None, self._too_large(None)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over ``body`` once, then passes on to the connection (so the app
    still hears of a client that disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
