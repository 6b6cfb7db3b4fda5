"""``redheart surd``: which result fields uniquely, redundantly or synergistically inform a
target field, over a whole ``redheart batch`` results file."""

from __future__ import annotations

import json

import click

from ..extras import require
from .options import fail, handle_errors


@click.command()
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              metavar="OUTPUT.jsonl", help="A results file written by `redheart batch`.")
@click.option("--target", required=True, metavar="FIELD",
              help="Dotted path into each result, e.g. circuit.final_ethical_score.")
@click.option("--sources", required=True, metavar="F1,F2,...",
              help="Comma-separated dotted paths, e.g. emotion.valence,bentham.final_score.")
@click.option("--bins", type=click.IntRange(min=2), default=8, show_default=True,
              help="Equal-width bins per variable.")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a bar chart (PNG).")
@click.option("--json", "json_only", is_flag=True, help="Print only the JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@handle_errors
def surd(data_path, target, sources, bins, plot_path, json_only, debug) -> None:
    """SURD decomposition of --target by --sources over the results in --data (in bits).

    Prints a table and the same figures as JSON. Records whose result lacks a field, or holds
    a non-number there, are left out and counted. With fewer than 3 results per occupied bin of
    the joint histogram the figures are noise: a warning says so (and JSON's "warning").
    """
    require("train", "redheart surd")
    from ..training.surd_study import plot_study, surd_study

    names = [s.strip() for s in sources.split(",") if s.strip()]
    if not names:
        fail("--sources names no field")
    study = surd_study(data_path, target, names, bins)
    if plot_path:
        plot_study(study, plot_path)
    if json_only:
        click.echo(json.dumps(study.to_dict(), indent=2))
        if study.warning:
            click.echo(f"warning: {study.warning}", err=True)
        return
    from rich.console import Console

    console = Console()
    console.print(study.table())
    if study.warning:
        console.print(f"[bold yellow]warning:[/bold yellow] {study.warning}")
    if study.skipped:
        console.print(f"[yellow]left out {study.skipped} record(s):[/yellow] "
                      + "; ".join(f"{n} {why}" for why, n in study.skipped_reasons.items()))
    if plot_path:
        console.print(f"bar chart: {plot_path}")
    click.echo(json.dumps(study.to_dict(), indent=2))
