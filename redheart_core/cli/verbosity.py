"""How loud the CLI is: warnings and errors by default, ``-v`` / ``-q`` to change that.

The level comes from, in order: ``-q`` / ``-v`` / ``-vv`` on the command line; ``logging.level``
when a config file or ``--set`` names it; with ``logging.format: json`` the config's level as it
stands (JSON logs are for log pipelines and keep every record); otherwise ``WARNING``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import click

#: the level for each ``-v`` count (0: the default), and for ``-q``
VERBOSE_LEVELS = ("WARNING", "INFO", "DEBUG")
QUIET_LEVEL = "ERROR"
LEVEL_KEY = "logging.level"


def verbosity_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``-v/--verbose`` (repeatable) and ``-q/--quiet``; their values land in ``ctx.meta``."""

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta[f"redheart.{param.name}"] = value
        return value

    func = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=remember,
                        help="Show errors only.")(func)
    func = click.option("-v", "--verbose", count=True, expose_value=False, callback=remember,
                        help="Show progress records (-v: INFO, -vv: DEBUG); default: warnings "
                             "and errors only.")(func)
    return func


def requested_level() -> str | None:
    """The level ``-v`` / ``-q`` ask for in the current command, or None when neither was given."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    if ctx.meta.get("redheart.quiet"):
        return QUIET_LEVEL
    verbose = int(ctx.meta.get("redheart.verbose") or 0)
    return VERBOSE_LEVELS[min(verbose, len(VERBOSE_LEVELS) - 1)] if verbose else None


def is_quiet() -> bool:
    return requested_level() == QUIET_LEVEL


def cli_log_level(cfg: Any, config_files: Sequence[str], overrides: Sequence[str]) -> str:
    """The level the CLI logs at for this command (see the module docstring)."""
    asked = requested_level()
    if asked is not None:
        return asked
    from ..config import LogFormat, sets_key

    if LogFormat(cfg.logging.format) is LogFormat.json or sets_key(config_files, overrides, LEVEL_KEY):
        return str(cfg.logging.level).upper()
    return VERBOSE_LEVELS[0]
