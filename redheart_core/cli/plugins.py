"""``redheart plugins``: what is installed, what it registers, and what failed to load."""

from __future__ import annotations

import json

import click

from .options import config_options, fail, handle_errors


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--hook", "hook", default=None, metavar="NAME",
              help="Only plugins implementing this hook (with or without the redheart_ prefix).")
@config_options
@handle_errors
def plugins(as_json: bool, hook: str | None, config_files, overrides, debug) -> None:
    """List plugins: name, distribution, version, status, what each registers (with its
    description) and the hooks it implements.

    A plugin that failed to load is listed with its error; the command still exits 0
    (with REDHEART_STRICT_PLUGINS=1 the first failure is an error, exit 2). An unknown --hook
    exits 2 listing the hooks.
    """
    from ..config import load_config
    from ..plugins import KINDS, get_registry, hook_names

    if hook is not None:
        wanted = hook if hook.startswith("redheart_") else f"redheart_{hook}"
        if wanted not in hook_names():
            fail(f"--hook: unknown hook {hook!r} (hooks: {', '.join(hook_names())})")
        hook = wanted
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
    from rich.text import Text

    from ..plugins import KIND_LABELS

    console = Console()
    if not infos:
        console.print(f"no plugin implements {hook}")
        return
    for i in infos:
        status = Text(i.status, style={"ok": "green", "disabled": "yellow"}.get(i.status, "red"))
        console.print(Text.assemble((i.name, "bold"), f"  {i.distribution} {i.version}  ", status))
        if i.error:
            console.print(Text(f"  {i.error}", style="red"), overflow="fold")
        rows = Table.grid(padding=(0, 1))
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True, style="cyan")
        rows.add_column(overflow="fold")
        for kind in KINDS:
            for name in i.registers.get(kind, []):
                rows.add_row(f"  {KIND_LABELS[kind]}", name, i.descriptions.get(kind, {}).get(name, ""))
        if rows.row_count:
            console.print(rows)
        if i.hooks:
            console.print(Text("  hooks: " + ", ".join(h.removeprefix("redheart_") for h in i.hooks),
                               style="dim"), overflow="fold")
