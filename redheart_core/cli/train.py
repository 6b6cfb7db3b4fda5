"""``redheart train emotion|bentham|regret``: train an analyzer head on labelled JSONL."""

from __future__ import annotations

import click

from .signals import recording_interrupts
from .options import config_options, handle_errors, load_cli_config

KINDS = ("emotion", "bentham", "regret")


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Labelled JSONL to train on.")
@click.option("--val", "val_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Labelled JSONL to validate on (default: hold back --val-fraction of --data).")
@click.option("--max-epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Checkpoint to write [default: ./redheart-KIND-head.pt].")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Learning rate (AdamW).")
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True,
              help="Width of the head's hidden layer.")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs without a better validation loss before stopping early.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True, help="Share of --data held back without --val.")
@click.option("--accelerator", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu",
              show_default=True)
@click.option("--finetune-embedder", is_flag=True,
              help="Train the embedder too (saved beside --out; the config must then use it "
                   "as embedding.model for every analyzer).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@config_options
@handle_errors
def train(kind, data_path, val_path, max_epochs, out_path, batch_size, lr, hidden, patience,
          val_fraction, accelerator, finetune_embedder, progress, config_files, overrides,
          debug) -> None:
    """Train the KIND head on the shared embedder (frozen by default) and write its checkpoint.

    Record shapes: {"text", "label"} (emotion, one of the 7 labels), {"text", "bentham": {10
    dimensions in 0..1}}, {"text", "regret": 0..1}. The seed is the config's `seed`. Use the
    checkpoint with --set analyzer_options.KIND.checkpoint=PATH.
    """
    cfg = load_cli_config(config_files, overrides)
    from ..training.train import TrainOptions, train_head

    options = TrainOptions(max_epochs=max_epochs, batch_size=batch_size, lr=lr, hidden=hidden,
                           patience=patience, val_fraction=val_fraction, accelerator=accelerator,
                           progress=progress, finetune_embedder=finetune_embedder)
    with recording_interrupts():  # Lightning turns Ctrl-C into exit(1)
        report = train_head(cfg, kind, data_path, val_path, out_path or f"redheart-{kind}-head.pt", options)
    click.echo(f"trained the {kind} head for {report.epochs} epoch(s) on {report.train_records} "
               f"records; validation on {report.val_records} records (best epoch):")
    for name, value in report.metrics.items():
        click.echo(f"  {name:<9} {value:.4f}")
    click.echo(f"checkpoint: {report.checkpoint} (embedder {report.embedder_id})")
    use = f"--set analyzer_options.{kind}.checkpoint={report.checkpoint}"
    if report.embedder_dir is not None:
        click.echo(f"fine-tuned embedder: {report.embedder_dir}")
        use = f"--set embedding.model={report.embedder_dir} {use}"
    click.echo(f"use it with: {use}")
