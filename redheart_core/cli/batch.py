"""``redheart batch``: analyze every line of a JSONL file on Lightning, resumable."""

from __future__ import annotations

import click

from .signals import recording_interrupts
from ..extras import require
from .options import config_options, handle_errors, load_cli_config


@click.command()
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              metavar="OUTPUT.jsonl", help="Results file; appended to, ids already in it are skipped.")
@click.option("--accelerator", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu",
              show_default=True, help="Device type each process runs on.")
@click.option("--devices", default="1", show_default=True, metavar="N",
              help="Processes (devices) per node; 'auto' for all.")
@click.option("--num-nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Machines taking part (launched by your cluster's launcher).")
@click.option("--strategy", default="auto", show_default=True, metavar="NAME",
              help="Lightning strategy: auto, ddp, ddp_spawn, ...")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Records per step (default: pipeline.batch_size).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress, counted in texts, on standard error.")
@config_options
@handle_errors
def batch(input_path, out_path, accelerator, devices, num_nodes, strategy, batch_size, progress,
          config_files, overrides, debug) -> None:
    """Analyze each line of INPUT.jsonl ({"id"?, "text"}) into --out.

    Output lines are {"id", "result"} or {"id", "error"}, appended and flushed one by one, so an
    interrupted run leaves valid JSONL and a rerun only does the ids not answered yet. Records
    without an id get a stable one derived from the text. Progress (in texts) and a closing
    summary (counts, failures, score distributions) go to standard error.
    """
    require("train", "redheart batch")
    cfg = load_cli_config(config_files, overrides)
    devices = _devices(devices)
    from ..training.batch import run_batch

    with recording_interrupts():  # Lightning turns Ctrl-C into exit(1)
        run = run_batch(cfg, input_path, out_path, accelerator=accelerator, devices=devices,
                        num_nodes=num_nodes, strategy=strategy, batch_size=batch_size, progress=progress)
    if not run.is_global_zero:
        return
    if run.written == 0 and run.skipped == run.inputs:
        click.echo(f"all {run.inputs} ids are already in {out_path}; nothing to do", err=True)
        return
    from rich.console import Console

    from ..report.batch_summary import print_batch_summary
    from ..report.scores import read_results

    print_batch_summary(read_results(out_path), new=run.written, skipped=run.skipped,
                        inputs=run.inputs, console=Console(stderr=True))


def _devices(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter("give a number of devices or 'auto'", param_hint="--devices") from None
    if n < 1:
        raise click.BadParameter("must be at least 1", param_hint="--devices")
    return n
