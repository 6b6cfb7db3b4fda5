"""``redheart train model|emotion|bentham|regret``: train the Red Heart model or one head."""

from __future__ import annotations

import click

from ..extras import require
from .options import config_options, fail, handle_errors, load_cli_config
from .signals import recording_interrupts

HEAD_KINDS = ("emotion", "bentham", "regret")
KINDS = ("model", *HEAD_KINDS)


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--data", "data_path", default=None, type=click.Path(), metavar="PATH",
              help="model: the data folder [default: ./data]; a head: labelled JSONL (required).")
@click.option("--val", "val_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="A head: labelled JSONL to validate on (default: hold back --val-fraction).")
@click.option("--max-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs [default: 2 for model, 30 for a head].")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="File to write [default: ./redheart-model.safetensors or ./redheart-KIND-head.pt].")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Learning rate (AdamW) [default: 4e-5 for the model's encoder, 1e-3 for a head].")
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True,
              help="Width of each head's hidden layer.")
@click.option("--tuned-layers", type=click.IntRange(min=0), default=6, show_default=True,
              help="model: how many of the encoder's top layers are fine-tuned.")
@click.option("--limit", type=click.IntRange(min=2), default=None,
              help="model: at most this many training examples per task (a quick, tiny run).")
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True,
              help="A head: epochs without a better validation loss before stopping early.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True, help="A head: share of --data held back without --val.")
@click.option("--accelerator", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu",
              show_default=True)
@click.option("--finetune-embedder", is_flag=True,
              help="A head: train the embedder too (saved beside --out; the config must then use "
                   "it as embedding.model for every analyzer).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@config_options
@handle_errors
def train(kind, data_path, val_path, max_epochs, out_path, batch_size, lr, hidden, tuned_layers,
          limit, patience, val_fraction, accelerator, finetune_embedder, progress, config_files,
          overrides, debug) -> None:
    """Train the Red Heart model (KIND `model`) or one analyzer head.

    `model` fine-tunes the bundled all-MiniLM-L6-v2 with one head per task on the data folder
    (ETHICS, EmoBank, the project's emotion sentences; see data/README.md) and writes one
    .safetensors file: use it with --set embedding.model=PATH (the shipped one is rebuilt with
    `make model`). The seed is the config's `seed`.

    A head trains on the shared embedder (frozen by default). Record shapes: {"text", "label"}
    (emotion, one of the 7 labels), {"text", "bentham": {10 dimensions in 0..1}}, {"text",
    "regret": 0..1}. Use it with --set analyzer_options.KIND.checkpoint=PATH.
    """
    cfg = load_cli_config(config_files, overrides)
    require("train", "redheart train")
    if kind == "model":
        if val_path or finetune_embedder:
            fail("--val and --finetune-embedder apply to a head, not to the model")
        _train_model(cfg, data_path or "data", out_path or "redheart-model.safetensors", max_epochs,
                     batch_size, lr, hidden, tuned_layers, limit, accelerator, progress)
        return
    if data_path is None:
        fail(f"training the {kind} head needs --data FILE (labelled JSONL)")
    if limit is not None:
        fail("--limit applies to the model, not to a head")
    from ..training.train import TrainOptions, train_head

    options = TrainOptions(max_epochs=max_epochs or 30, batch_size=batch_size, lr=lr or 1e-3,
                           hidden=hidden, patience=patience, val_fraction=val_fraction,
                           accelerator=accelerator, progress=progress,
                           finetune_embedder=finetune_embedder)
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


def _train_model(cfg, data_path, out_path, max_epochs, batch_size, lr, hidden, tuned_layers, limit,
                 accelerator, progress) -> None:
    import shlex
    import sys
    import tempfile

    from ..analyzers.embedder import BUNDLED, bundled_path
    from ..model.corpus import load_corpus
    from ..model.training import ModelTrainOptions, train_model

    corpus = load_corpus(data_path, limit=limit)  # a bad data folder fails before any model loads
    given = {"epochs": max_epochs, "lr": lr, "limit": limit}
    options = ModelTrainOptions(batch_size=batch_size, hidden=hidden, tuned_layers=tuned_layers,
                                accelerator=accelerator, progress=progress, seed=int(cfg.seed),
                                **{k: v for k, v in given.items() if v is not None})
    command = "redheart train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    with tempfile.TemporaryDirectory(prefix="redheart-train-") as workdir, recording_interrupts():
        report = train_model(corpus, BUNDLED, bundled_path(), out_path, options, workdir, command)
    click.echo(f"trained the Red Heart model for {report.epochs} epoch(s) in {report.seconds / 60:.1f} "
               f"min on {sum(report.train_examples.values())} examples; dev figures of {report.exported}:")
    for name, value in report.metrics.items():
        click.echo(f"  {name:<20} {value:.4f}")
    click.echo(f"model: {report.path} ({report.bytes / 1e6:.1f} MB)")
    click.echo(f"use it with: --set embedding.model={report.path}")
