"""The trainer redheart builds keeps Lightning quiet without touching the process's settings."""

from __future__ import annotations

import logging
import warnings

from redheart_core.training.trainers import make_trainer, quiet_lightning


def test_building_a_trainer_leaves_the_global_warning_filters_and_logger_levels_alone():
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with warnings.catch_warnings():
        warnings.resetwarnings()
        before = list(warnings.filters)
        level = rank_zero.level
        make_trainer(progress=False, accelerator="cpu", devices=1)
        make_trainer(progress=False, accelerator="cpu", devices=1)
        assert warnings.filters == before
        assert rank_zero.level == level


def test_inside_quiet_lightning_its_known_noise_is_hidden_and_other_warnings_are_not():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_lightning():
            warnings.warn("The 'train_dataloader' does not have many workers which may be a bottleneck.")
            warnings.warn("something else")
        warnings.warn("The 'val_dataloader' does not have many workers which may be a bottleneck.")
    assert [str(w.message) for w in seen] == [
        "something else", "The 'val_dataloader' does not have many workers which may be a bottleneck."]
