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

from omegaconf import DictConfig

log = logging.getLogger("redheart.service")


def serve(config: DictConfig, *, host: str | None = None, port: int | None = None) -> None:
    """Run the service in the foreground until it is signalled to stop."""
    from ..logs import configure_logging

    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    handler = configure_logging(config.logging)
    uvicorn_log = logging.getLogger("uvicorn")  # its start, stop and error lines, same format
    uvicorn_log.handlers = [handler]
    uvicorn_log.setLevel(logging.getLogger("redheart").level)
    uvicorn_log.propagate = False
    previous = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(_serve(config))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _after_shutdown(signum: int, frame: object) -> None:
    """uvicorn replays the SIGTERM it handled once it has shut down; the pipeline must still
    close after that, so the replay must not end the process."""


async def _serve(config: DictConfig) -> None:
    import uvicorn

    from ..pipeline import Pipeline
    from .app import create_app, load_models

    async with Pipeline.from_config(config) as pipe:
        await asyncio.to_thread(load_models, pipe.runtime)
        app = create_app(config, pipeline=pipe)
        server = uvicorn.Server(uvicorn.Config(
            app, host=config.server.host, port=config.server.port, log_config=None,
            access_log=False, lifespan="on", server_header=False,
            timeout_graceful_shutdown=config.server.shutdown_timeout_s))
        signal.signal(signal.SIGTERM, _after_shutdown)  # until now SIGTERM simply ends start-up
        await server.serve()
        log.info("closing the pipeline", extra={"event": "pipeline_closing"})
    log.info("pipeline closed", extra={"event": "pipeline_closed"})
