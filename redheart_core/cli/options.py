"""Options every config-driven command shares, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click

from ..errors import ConfigError, RedheartError
from .signals import interrupted
from .verbosity import cli_log_level, verbosity_options

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config FILE`` (repeatable), ``--set KEY=VALUE`` (repeatable), ``--debug`` and
    ``-v`` / ``-q``."""
    func = verbosity_options(func)
    func = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(func)
    func = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override one config key (dotted path); repeatable.")(func)
    func = click.option("--config", "config_files", multiple=True, metavar="FILE",
                        type=click.Path(dir_okay=False),
                        help="A YAML config file; repeatable, later files win.")(func)
    return func


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print ``error: message`` on one line (secrets scrubbed) and exit with ``code``."""
    from ..secrets import environment_secrets, redact_text
    from ..report.printable import printable

    line = printable(" ".join(redact_text(message, environment_secrets()).split()))
    click.echo(f"error: {line}", err=True)
    sys.exit(code)


def stop_interrupted() -> None:
    """End on Ctrl-C: ``interrupted`` is the last word (work still winding down in background
    threads logs nothing more), exit 130."""
    logging.disable(logging.CRITICAL)
    fail("interrupted", EXIT_INTERRUPTED)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected errors into a one-line message and an exit code (tracebacks with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            if debug:
                raise
            fail(f"config: {exc}", EXIT_USAGE)
        except RedheartError as exc:
            if debug:
                raise
            fail(str(exc), EXIT_USAGE)
        except KeyboardInterrupt:
            stop_interrupted()
        except SystemExit as exc:
            if interrupted() and exc.code not in (None, EXIT_OK, EXIT_INTERRUPTED):
                stop_interrupted()  # a library (Lightning) exited on Ctrl-C
            raise

    return wrapper


def load_cli_config(config_files: tuple[str, ...], overrides: tuple[str, ...]) -> Any:
    """The validated config, with ``redheart.*`` logging set up at the command's level."""
    from ..config import load_config
    from ..logs import configure_logging

    cfg = load_config(files=list(config_files), overrides=list(overrides))
    configure_logging(cfg.logging, level=cli_log_level(cfg, config_files, overrides))
    return cfg
