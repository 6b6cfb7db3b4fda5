"""``redheart serve``: the HTTP API over one shared pipeline."""

from __future__ import annotations

import click

from ..extras import require
from .options import config_options, handle_errors, load_cli_config
from .verbosity import cli_log_level, is_quiet


@click.command()
@click.option("--host", default=None, metavar="ADDRESS",
              help="Address to bind (default: server.host, 127.0.0.1 — loopback only).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port to listen on (default: server.port, 8000).")
@config_options
@handle_errors
def serve(host, port, config_files, overrides, debug) -> None:
    """Serve the HTTP API (POST /v1/analyze, /v1/analyze/batch, /v1/analyze/stream,
    GET /healthz, /readyz, /metrics, /v1/plugins, /docs) until SIGTERM or Ctrl-C.

    See docs/operations.md.
    """
    require("serve", "redheart serve")
    cfg = load_cli_config(config_files, overrides)
    from ..config import LogFormat
    from ..service.server import serve as run_server

    # plain status lines for people; with JSON logs the `ready` record says it instead
    talk = not is_quiet() and LogFormat(cfg.logging.format) is LogFormat.text
    run_server(cfg, host=host, port=port, log_level=cli_log_level(cfg, config_files, overrides),
               announce=(lambda line: click.echo(line, err=True)) if talk else _quiet)


def _quiet(line: str) -> None:
    """Say nothing (``-q``, or JSON logs)."""
