"""``redheart serve``: the app under uvicorn, with its limits and a graceful shutdown.

Start-up order: the address is bound first (a port in use or an address that cannot be bound is
a config error, exit 2, before any model loads), then the pipeline is entered, so a config error
(a missing API key) also ends the command with its one-line message, and every model is loaded
before the first request; only then does the socket listen.

Connections are bounded (:mod:`.connections`): a connection limit below the descriptor limit,
header and body deadlines, uvicorn's keep-alive timeout, rate-limited warnings.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets in-flight requests finish
for up to ``server.shutdown_timeout_s`` seconds; then every request still running is answered
503 ``ShuttingDown`` in the JSON envelope (a stream gets a final ``error`` event), counted in
``/metrics`` as ``shutdown``, with no traceback. Then the pipeline closes, which closes the LLM
backend and stops the worker threads.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time
from typing import TYPE_CHECKING, Callable

from omegaconf import DictConfig

from ..errors import ConfigError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

log = logging.getLogger("redheart.service")

#: where ``serve`` says what it is doing (loading, ready at an address); a no-op by default
Announce = Callable[[str], None]
#: time the server gives cut-off requests to send their 503 before uvicorn cancels what is left
CUT_OFF_GRACE_S = 5.0


def _silent(message: str) -> None:
    """Announce nothing."""


def serve(config: DictConfig, *, host: str | None = None, port: int | None = None,
          log_level: str | None = None, announce: Announce = _silent) -> None:
    """Run the service in the foreground until it is signalled to stop.

    ``announce`` gets one line when loading starts, one when the models are loaded and one when
    the server listens, with its address; ``log_level`` overrides ``logging.level``.
    """
    from ..logs import configure_logging
    from .app import check_exposure
    from .connections import limit_noisy_logs

    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    check_exposure(config)
    handler = configure_logging(config.logging, level=log_level)
    for name in ("uvicorn", "asyncio"):  # their lines in the same format, secrets redacted
        other = logging.getLogger(name)
        other.handlers = [handler]
        other.setLevel(logging.getLogger("redheart").level)
        other.propagate = False
    limit_noisy_logs()
    sockets = bind(str(config.server.host), int(config.server.port))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(_serve(config, sockets, announce))
    finally:
        signal.signal(signal.SIGTERM, previous)
        for sock in sockets:
            sock.close()


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to ``host:port`` (not yet listening), one per address the name resolves
    to; a port in use or an address that cannot be bound is a :class:`ConfigError`."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError("server.host", f"cannot resolve {host!r}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError("server.port", f"{where} is already in use; stop what holds it or "
                              "choose another port (--port)") from None
        raise ConfigError("server.host", f"cannot bind {where}: {exc.strerror}; give an address "
                          "of this machine (--host)") from None
    return sockets


def _after_shutdown(signum: int, frame: object) -> None:
    """uvicorn replays the SIGTERM it handled once it has shut down; the pipeline must still
    close after that, so the replay must not end the process."""


def make_server(app: "FastAPI", config: DictConfig) -> "uvicorn.Server":
    """A uvicorn server for ``app`` with the service's connection limits, timeouts and
    shutdown deadline (``app`` comes from :func:`~redheart_core.service.app.create_app`)."""
    import uvicorn

    from .connections import (ACCEPT_BATCH, LISTEN_BACKLOG, ConnectionLimit, connection_limit,
                              protocol_class)

    server_cfg = config.server
    limits = ConnectionLimit(connection_limit(int(server_cfg.max_connections)),
                             float(server_cfg.header_timeout_s), float(server_cfg.body_timeout_s))

    class Server(uvicorn.Server):
        """uvicorn's server; its shutdown first sets the deadline after which requests still
        running are cut off with a clean 503."""

        connection_limit = limits

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            """Listen with a long kernel queue; the loop still accepts ACCEPT_BATCH at a time
            (asyncio uses one number for both, so the queue is set again once listening)."""
            await super().startup(sockets=sockets)
            for sock in sockets or ():
                sock.listen(LISTEN_BACKLOG)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.service.begin_shutdown(float(server_cfg.shutdown_timeout_s))
            await super().shutdown(sockets=sockets)

    return Server(uvicorn.Config(
        app, host=str(server_cfg.host), port=int(server_cfg.port), log_config=None,
        access_log=False, lifespan="on", server_header=False, http=protocol_class(limits),
        backlog=ACCEPT_BATCH,
        timeout_keep_alive=float(server_cfg.keep_alive_s),
        timeout_graceful_shutdown=float(server_cfg.shutdown_timeout_s) + CUT_OFF_GRACE_S))


def loading_line(config: DictConfig) -> str:
    """What start-up is about to load, in one line."""
    analyzers = ", ".join(config.analyzers) or "none"
    embedder = f"; embedder {config.embedding.model}" if len(config.analyzers) else ""
    return (f"loading: LLM backend {config.llm.backend}; analyzers {analyzers}{embedder} "
            "(the first start reads the model weights; this can take a while)")


def address_of(server: "uvicorn.Server", config: DictConfig) -> str:
    """``http://host:port`` the server listens on (the real port when the config asked for 0)."""
    port = config.server.port
    sockets = [sock for listener in server.servers for sock in listener.sockets]
    if sockets:
        port = sockets[0].getsockname()[1]
    host = config.server.host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


async def _announce_when_listening(server: "uvicorn.Server", config: DictConfig,
                                   announce: Announce) -> None:
    while not server.started:
        await asyncio.sleep(0.02)
    address = address_of(server, config)
    log.info("ready at %s", address, extra={"event": "ready"})
    announce(f"ready: {address} (POST /v1/analyze, GET /docs; Ctrl-C or SIGTERM stops it)")


async def _serve(config: DictConfig, sockets: list[socket.socket], announce: Announce) -> None:
    from ..pipeline import Pipeline
    from .app import create_app, load_models
    from .connections import log_accept_errors

    log_accept_errors(asyncio.get_running_loop())
    started = time.perf_counter()
    announce(loading_line(config))
    async with Pipeline.from_config(config) as pipe:
        await asyncio.to_thread(load_models, pipe.runtime)
        announce(f"loaded in {time.perf_counter() - started:.1f} s; starting the HTTP server")
        app = create_app(config, pipeline=pipe)
        server = make_server(app, config)
        log.info("at most %d connections at once", server.connection_limit.limit,
                 extra={"event": "connection_limit"})
        signal.signal(signal.SIGTERM, _after_shutdown)  # until now SIGTERM simply ends start-up
        watcher = asyncio.create_task(_announce_when_listening(server, config, announce))
        try:
            await server.serve(sockets=sockets)
        finally:
            watcher.cancel()
        cut_off = app.state.service.metrics.total("shutdown")
        if cut_off:
            log.warning("%d request(s) still running at server.shutdown_timeout_s were answered "
                        "503 ShuttingDown", cut_off, extra={"event": "requests_cut_off"})
        log.info("closing the pipeline", extra={"event": "pipeline_closing"})
    log.info("pipeline closed", extra={"event": "pipeline_closed"})
