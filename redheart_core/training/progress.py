"""The progress of ``redheart batch``, counted in texts and written to standard error.

Lightning's own bars count batches and write to standard output; a batch run's unit is the
text, and its standard output may be piped. One line per process: texts done of this process's
share, failures so far, texts per second.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class TextProgress(L.Callback):
    """A rich progress bar on stderr: texts analyzed, failures, rate."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.failures = 0

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        todo = len(trainer.datamodule.todo)
        share = math.ceil(todo / trainer.world_size)
        label = "texts" if trainer.world_size == 1 else f"texts (rank {trainer.global_rank})"
        self.progress = Progress(
            TextColumn(f"[bold]analyzing {label}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failures]} failed"), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False)
        self.task = self.progress.add_task("texts", total=share, failures=0, rate="")
        self.progress.start()

    def on_predict_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                             batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.progress is None or self.task is None:
            return
        self.failures += sum(1 for line in outputs
                             if "error" in line or line.get("result", {}).get("errors"))
        self.progress.advance(self.task, len(batch))
        elapsed = self.progress.tasks[0].elapsed or 0.0
        done = self.progress.tasks[0].completed
        rate = f"{done / elapsed:.1f} texts/s" if elapsed > 0 else ""
        self.progress.update(self.task, failures=self.failures, rate=rate)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
