"""How redheart builds a Lightning ``Trainer``: no experiment logger, no model summary, and
Lightning's start-up chatter (accelerator lines, product tips) kept out of the command's output."""

from __future__ import annotations

import logging
import warnings
from typing import Any

_CHATTY_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                   "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.distributed")


def quiet_lightning() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r".*does not have many workers")
    warnings.filterwarnings("ignore", message=r".*`max_epochs` was not set")


def make_trainer(*, progress: bool, callbacks: list[Any] | None = None, **kwargs: Any) -> Any:
    """A ``Trainer`` with redheart's defaults; ``progress`` adds the rich progress bar."""
    import lightning as L

    quiet_lightning()
    callbacks = list(callbacks or [])
    if progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    return L.Trainer(callbacks=callbacks, logger=False, enable_model_summary=False,
                     enable_progress_bar=progress, **kwargs)
