"""``redheart plugins``: what is installed, what it registers, and what failed to load."""

from __future__ import annotations

import json

import click

from .options import config_options, handle_errors


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--hook", "hook", default=None, metavar="NAME",
              help="Only plugins implementing this hook.")
@config_options
@handle_errors
def plugins(as_json: bool, hook: str | None, config_files, overrides, debug) -> None:
    """List plugins: name, distribution, version, hooks, registrations, status.

    A plugin that failed to load is listed with its error; the command still exits 0
    (with REDHEART_STRICT_PLUGINS=1 the first failure is an error, exit 2).
    """
    from ..config import load_config
    from ..plugins import get_registry

    disabled = ()
    if config_files or overrides:
        disabled = load_config(files=config_files, overrides=overrides, validate=False).plugins.disabled
    infos = get_registry(disabled).plugin_infos()
    if hook:
        infos = [i for i in infos if hook in i.hooks]
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="redheart plugins")
    for col in ("name", "distribution", "version", "registers", "hooks", "status"):
        table.add_column(col)
    for i in infos:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in i.registers.items())
        status = i.status if not i.error else f"[red]{i.status}: {i.error}[/red]"
        hooks = ", ".join(h.removeprefix("redheart_") for h in i.hooks)
        table.add_row(i.name, i.distribution, i.version, registers, hooks, status)
    Console().print(table)
