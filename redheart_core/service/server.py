"""``redheart serve``: the app under uvicorn, with graceful shutdown.

The pipeline is entered before the server listens, so a config error (a missing API key) ends
the command with its one-line message and exit 2, and every model is loaded before the first
request. On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets in-flight requests
finish for up to ``server.shutdown_timeout_s`` seconds and cancels what is left; then the
pipeline closes, which closes the LLM backend and stops the worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING, Callable

from omegaconf import DictConfig

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("redheart.service")

#: where ``serve`` says what it is doing (loading, ready at an address); a no-op by default
Announce = Callable[[str], None]


def _silent(message: str) -> None:
    """Announce nothing."""


def serve(config: DictConfig, *, host: str | None = None, port: int | None = None,
          log_level: str | None = None, announce: Announce = _silent) -> None:
    """Run the service in the foreground until it is signalled to stop.

    ``announce`` gets one line when loading starts, one when the models are loaded and one when
    the server listens, with its address; ``log_level`` overrides ``logging.level``.
    """
    from ..logs import configure_logging

    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    handler = configure_logging(config.logging, level=log_level)
    uvicorn_log = logging.getLogger("uvicorn")  # its start, stop and error lines, same format
    uvicorn_log.handlers = [handler]
    uvicorn_log.setLevel(logging.getLogger("redheart").level)
    uvicorn_log.propagate = False
    previous = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(_serve(config, announce))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _after_shutdown(signum: int, frame: object) -> None:
    """uvicorn replays the SIGTERM it handled once it has shut down; the pipeline must still
    close after that, so the replay must not end the process."""


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


async def _serve(config: DictConfig, announce: Announce) -> None:
    import uvicorn

    from ..pipeline import Pipeline
    from .app import create_app, load_models

    started = time.perf_counter()
    announce(loading_line(config))
    async with Pipeline.from_config(config) as pipe:
        await asyncio.to_thread(load_models, pipe.runtime)
        announce(f"loaded in {time.perf_counter() - started:.1f} s; starting the HTTP server")
        app = create_app(config, pipeline=pipe)
        server = uvicorn.Server(uvicorn.Config(
            app, host=config.server.host, port=config.server.port, log_config=None,
            access_log=False, lifespan="on", server_header=False,
            timeout_graceful_shutdown=config.server.shutdown_timeout_s))
        signal.signal(signal.SIGTERM, _after_shutdown)  # until now SIGTERM simply ends start-up
        watcher = asyncio.create_task(_announce_when_listening(server, config, announce))
        try:
            await server.serve()
        finally:
            watcher.cancel()
        log.info("closing the pipeline", extra={"event": "pipeline_closing"})
    log.info("pipeline closed", extra={"event": "pipeline_closed"})
