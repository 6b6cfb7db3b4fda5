"""``redheart config show|validate``."""

from __future__ import annotations

import json

import click

from .options import config_options, handle_errors


@click.group()
def config() -> None:
    """Show or validate the merged configuration."""


@config.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@handle_errors
def show(config_files, overrides, debug, as_json) -> None:
    """Print the merged config (defaults, files, overrides) with secrets redacted."""
    from ..config import load_config, to_plain, to_yaml

    cfg = load_config(files=config_files, overrides=overrides, validate=False)
    click.echo(json.dumps(to_plain(cfg), indent=2) if as_json else to_yaml(cfg), nl=not as_json)


@config.command()
@config_options
@handle_errors
def validate(config_files, overrides, debug) -> None:
    """Check the config against the schema and the installed plugins, then build what
    `analyze` builds (backend, analyzers and their checkpoints, experience store); exit 2
    when invalid."""
    import asyncio

    from ..config import load_config
    from ..pipeline import Pipeline

    cfg = load_config(files=config_files, overrides=overrides)

    async def build() -> None:
        async with Pipeline.from_config(cfg):
            pass

    asyncio.run(build())
    click.echo("config ok")
