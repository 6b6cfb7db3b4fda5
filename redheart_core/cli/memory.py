"""``redheart memory plan``: the per-phase device plan and its peak, before anything loads."""

from __future__ import annotations

import json
import sys

import click

from .options import EXIT_ERRORS, EXIT_OK, config_options, handle_errors, load_cli_config


@click.group()
def memory() -> None:
    """Plan device memory for the configured modules."""


@memory.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@handle_errors
def plan(config_files, overrides, debug, as_json) -> None:
    """Show which modules each phase keeps on the device, the peak, and whether it fits.

    Exit codes: 0 it fits, 1 it does not (what overflows is named), 2 config error.
    """
    from ..memory_plan import plan_for_config

    result = plan_for_config(load_cli_config(config_files, overrides))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        for problem in result.problems:
            click.echo(f"overflow: {problem}", err=True)
    else:
        click.echo(result.render())
    sys.exit(EXIT_OK if result.fits else EXIT_ERRORS)
