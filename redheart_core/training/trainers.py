"""How redheart builds a Lightning ``Trainer``: no experiment logger, no model summary, and
Lightning's start-up chatter (accelerator lines, product tips) kept out of the command's output."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ..errors import RedheartError


class TrainerSetupError(RedheartError):
    """Lightning refused the requested accelerator, devices or strategy."""

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
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    quiet_lightning()
    callbacks = list(callbacks or [])
    if progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    try:
        return L.Trainer(callbacks=callbacks, logger=False, enable_model_summary=False,
                         enable_progress_bar=progress, **kwargs)
    except (ValueError, MisconfigurationException) as exc:
        asked = ", ".join(f"{k}={kwargs[k]!r}" for k in ("accelerator", "devices", "num_nodes",
                                                          "strategy") if k in kwargs)
        raise TrainerSetupError(f"cannot run with {asked}: {str(exc).splitlines()[0]}") from None
