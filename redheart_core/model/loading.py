"""Putting a Red Heart model file on top of its loaded base encoder, for inference."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError
from .artifact import base_digest, read_model
from .encoder import PoolingRule
from .heads import HeadSet, ModelHeads


def apply_artifact(model: torch.nn.Module, path: str | Path,
                   key: str = "embedding.model") -> tuple[PoolingRule, ModelHeads]:
    """Put the file's fine-tuned weights (base + difference) into ``model`` and build its heads.

    Refuses a base whose weights differ from the ones the differences were computed on.
    """
    meta, deltas, head_state = read_model(path, key)
    state = model.state_dict()
    unknown = [name for name in meta.tuned if name not in state or name not in deltas]
    if unknown:
        raise ConfigError(key, f"{str(path)!r} changes weights the base encoder does not have "
                          f"({unknown[0]}); it was trained on another architecture")
    if base_digest(state, meta.tuned) != meta.base_digest:
        raise ConfigError(key, f"{str(path)!r} was trained on other base weights than "
                          f"{meta.base!r} holds here; retrain it with `redheart train model`")
    with torch.no_grad():
        # new tensors, not add_: the base weights are often a read-only file mapping, and
        # writing into it copies every page on first touch (ten times slower at start-up)
        tuned = {name: state[name] + deltas[name].to(state[name].dtype) for name in meta.tuned}
    model.load_state_dict(tuned, strict=False, assign=True)
    model.eval()
    model.requires_grad_(False)
    heads = HeadSet(int(model.config.hidden_size), meta.heads, meta.hidden, dropout=0.0)
    try:
        heads.load_state_dict(head_state)
    except RuntimeError as exc:
        raise ConfigError(key, f"{str(path)!r} holds heads that do not fit its description: "
                          f"{str(exc).splitlines()[0]}") from None
    heads.eval()
    heads.requires_grad_(False)
    return meta.pooling, ModelHeads(heads, meta.calibration)
