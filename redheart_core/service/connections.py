"""The connections the server accepts: bounded in number and in the time they may take.

uvicorn's h11 protocol with three additions, so idle or half-sent connections cannot lock other
clients out:

- **read deadlines**: a request's line and headers must arrive within ``server.header_timeout_s``
  (counted from the connection opening, or from the first byte of a later request on it), its
  body within ``server.body_timeout_s`` of the headers; a connection that misses either is
  closed. A connection that never sends a byte is closed at the header deadline. Between
  requests, uvicorn's keep-alive timeout (``server.keep_alive_s``) closes idle connections.
- **a connection limit** (:class:`ConnectionLimit`), kept below the process's file-descriptor
  limit: when it is reached, a new connection takes the place of the oldest one that has no
  request in progress (idle, or still sending its headers), so ``/healthz`` answers even under a
  flood of half-sent requests; when every connection is busy, the new one is closed at once.
- **rate-limited logs** (:class:`RateLimitedLog`): a repeated warning (an accept error at the
  descriptor limit, an invalid request, a refused connection) is written at most once per
  interval, with a count of the ones held back; an accept error is one line, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("redheart.service.connections")

#: connections the event loop accepts in one go: accepted sockets hold descriptors before the
#: limit sees them, so this many must fit below the descriptor limit
ACCEPT_BATCH = 64
#: connections the kernel holds for us before they are accepted (they take no descriptor here)
LISTEN_BACKLOG = 2048
#: descriptors kept free: for files, the store and pipes, and for two accept batches in flight
#: (one being accepted, one whose evicted connections are still closing)
FD_RESERVE = 64 + 2 * ACCEPT_BATCH
#: extra time a body gets at the connection level, so the app's own 408 answer goes out first
BODY_GRACE_S = 1.0


def descriptor_headroom() -> int | None:
    """File descriptors this process may still open (None: no limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 0
    return soft - in_use


def connection_limit(configured: int) -> int:
    """``server.max_connections``, lowered to stay :data:`FD_RESERVE` below the descriptor
    limit (at least 1)."""
    headroom = descriptor_headroom()
    if headroom is None:
        return configured
    return max(1, min(configured, headroom - FD_RESERVE))


class RateLimitedLog(logging.Filter):
    """Lets a message (by its first line) through at most once per ``interval_s`` seconds; the
    next one that passes says how many were held back."""

    MAX_KEYS = 512

    def __init__(self, interval_s: float = 10.0):
        super().__init__()
        self.interval_s = interval_s
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{str(record.msg).partition(chr(10))[0][:120]}"
        now = time.monotonic()
        last, held = self._seen.get(key, (float("-inf"), 0))
        if now - last < self.interval_s:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) >= self.MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last " \
                         f"{self.interval_s:g} s not logged)"
            record.args = None
        return True


#: the loggers that repeat themselves under attack: uvicorn's, asyncio's accept errors, ours
NOISY_LOGGERS = ("uvicorn.error", "asyncio", log.name)


def log_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Report an accept that failed for want of descriptors as one rate-limited line, not a
    traceback per attempt (the loop retries on its own a second later)."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            log.warning("cannot accept connections: %s; new connections wait (lower "
                        "server.max_connections or raise the open-file limit)",
                        context.get("exception"), extra={"event": "accept_failed"})
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def limit_noisy_logs(interval_s: float = 10.0) -> RateLimitedLog:
    """Install one :class:`RateLimitedLog` on each of :data:`NOISY_LOGGERS`."""
    limiter = RateLimitedLog(interval_s)
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RateLimitedLog)]:
            logger.removeFilter(old)
        logger.addFilter(limiter)
    return limiter


class ConnectionLimit:
    """The open connections, oldest first, and the limit on them."""

    def __init__(self, limit: int, header_timeout_s: float, body_timeout_s: float):
        self.limit = limit
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.open: dict["BoundedH11Protocol", None] = {}

    def admit(self, connection: "BoundedH11Protocol") -> bool:
        """Make room for ``connection`` (closing the oldest idle one) or refuse it."""
        if len(self.open) >= self.limit:
            victim = next((c for c in self.open if c.idle), None)
            if victim is None:
                log.warning("connection limit of %d reached with every connection busy; "
                            "refusing new connections (server.max_connections)", self.limit)
                return False
            self.release(victim)
            victim.close()
        self.open[connection] = None
        return True

    def release(self, connection: "BoundedH11Protocol") -> None:
        self.open.pop(connection, None)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol under a :class:`ConnectionLimit` and its read deadlines."""

    limits: ClassVar[ConnectionLimit]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_body = False
        super().connection_made(transport)
        if not self.limits.admit(self):
            self.close()
            return
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.limits.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm(self.limits.header_timeout_s)  # the first byte of a new request
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request(answered=True)

    @property
    def idle(self) -> bool:
        """No request in progress: still waiting for (part of) its headers, idle between
        requests, or already answered."""
        return self.conn.their_state is h11.IDLE or self.conn.our_state in (h11.DONE, h11.MUST_CLOSE)

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def _follow_request(self, answered: bool = False) -> None:
        """Move the deadline along with the request: headers, then body, then none (once the
        request is in, or answered and idle: then the keep-alive timeout takes over)."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if not self._reading_body:
                self._reading_body = True
                self._arm(self.limits.body_timeout_s + BODY_GRACE_S)
            return
        was_reading, self._reading_body = self._reading_body, False
        if state is not h11.IDLE or answered or was_reading:
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.warning("closing a connection that did not send its request in time "
                        "(server.header_timeout_s, server.body_timeout_s)")
            self.close()


def protocol_class(limits: ConnectionLimit) -> type[BoundedH11Protocol]:
    """A protocol class bound to ``limits`` (uvicorn builds one protocol per connection)."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"limits": limits})
