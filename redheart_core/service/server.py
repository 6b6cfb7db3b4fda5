"""``redheart serve``: the app under uvicorn, with graceful shutdown.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets in-flight requests finish for
up to ``server.shutdown_timeout_s`` seconds, cancels what is left, and then runs the app's
lifespan exit, which closes the pipeline and its backends.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from ..errors import RedheartError

log = logging.getLogger("redheart.service")


def serve(config: DictConfig, *, host: str | None = None, port: int | None = None) -> None:
    """Run the service in the foreground until it is signalled to stop."""
    import uvicorn

    from ..logs import configure_logging
    from .app import create_app

    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    handler = configure_logging(config.logging)
    uvicorn_log = logging.getLogger("uvicorn")  # its start, stop and error lines, same format
    uvicorn_log.handlers = [handler]
    uvicorn_log.setLevel(logging.getLogger("redheart").level)
    uvicorn_log.propagate = False
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.server.host, port=config.server.port, log_config=None,
        access_log=False, lifespan="on", server_header=False,
        timeout_graceful_shutdown=config.server.shutdown_timeout_s))
    try:
        server.run()
    except SystemExit:
        error = app.state.service.startup_error
        if isinstance(error, RedheartError):
            raise error from None
        raise
