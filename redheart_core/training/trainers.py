"""How redheart builds a Lightning ``Trainer``: no experiment logger, no model summary, and
Lightning's start-up chatter (accelerator lines, product tips) kept out of the command's output."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any, Iterator

import lightning as L

from ..errors import RedheartError


class TrainerSetupError(RedheartError):
    """Lightning refused the requested accelerator, devices or strategy."""


_CHATTY_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                   "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.distributed")
_NOISE = (r".*isinstance\(treespec, LeafSpec\)", r".*does not have many workers",
          r".*`max_epochs` was not set")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's start-up lines and known harmless warnings stay out of the block's output;
    the loggers' levels and the warning filters are as they were afterwards."""
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in _NOISE:
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


class QuietTrainer(L.Trainer):
    """A ``Trainer`` whose runs are :func:`quiet_lightning` (a module-level class, so that
    strategies that pickle the trainer can)."""

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        with quiet_lightning():
            return super().fit(*args, **kwargs)

    def validate(self, *args: Any, **kwargs: Any) -> Any:
        with quiet_lightning():
            return super().validate(*args, **kwargs)

    def test(self, *args: Any, **kwargs: Any) -> Any:
        with quiet_lightning():
            return super().test(*args, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        with quiet_lightning():
            return super().predict(*args, **kwargs)


def make_trainer(*, progress: bool, callbacks: list[Any] | None = None, **kwargs: Any) -> QuietTrainer:
    """A ``Trainer`` with redheart's defaults; ``progress`` adds the rich progress bar."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    callbacks = list(callbacks or [])
    if progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar())
    try:
        with quiet_lightning():
            return QuietTrainer(callbacks=callbacks, logger=False, enable_model_summary=False,
                                enable_progress_bar=progress, **kwargs)
    except (ValueError, MisconfigurationException) as exc:
        asked = ", ".join(f"{k}={kwargs[k]!r}" for k in ("accelerator", "devices", "num_nodes",
                                                          "strategy") if k in kwargs)
        raise TrainerSetupError(f"cannot run with {asked}: {str(exc).splitlines()[0]}") from None
