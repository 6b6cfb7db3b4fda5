"""The head checkpoint format, and :func:`load_head`, which the analyzers call.

A checkpoint is a ``torch.save`` file with two entries: ``redheart_head`` (format, kind,
label order, embedder id, network shape, validation metrics) and ``state_dict`` (the head's
weights). ``redheart train`` writes one with :func:`save_head`; the ``.ckpt`` files Lightning
writes during training carry the same metadata and load the same way. A head only makes sense
on the vectors and label order it was trained on, so loading refuses any mismatch instead of
producing confident nonsense.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from ..errors import ConfigError
from .head_net import FORMAT, FORMAT_VERSION, HeadNet, HeadShape, head_metadata
from .targets import HeadTarget, head_target

if TYPE_CHECKING:
    from .heads import HeadModule


def save_head(path: str | Path, module: "HeadModule") -> Path:
    """Write the head of a trained module to ``path`` (atomically: a reader never sees half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "redheart_head": head_metadata(module.target, module.embedder_id, module.net.shape,
                                       module.val_metrics),
        "state_dict": {k: v.detach().cpu() for k, v in module.net.state_dict().items()},
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _read(path: Path, key: str) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(key, f"checkpoint {str(path)!r} not found; train one with "
                          "`redheart train` or fix the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a foreign file
        raise ConfigError(key, f"{str(path)!r} is not a readable torch checkpoint "
                          f"({type(exc).__name__})") from None
    meta = payload.get("redheart_head") if isinstance(payload, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(key, f"{str(path)!r} is not a redheart head checkpoint (it has no "
                          "'redheart_head' metadata); train one with `redheart train`")
    if meta.get("version") != FORMAT_VERSION:
        raise ConfigError(key, f"{str(path)!r} has head format version {meta.get('version')!r}; "
                          f"this redheart reads version {FORMAT_VERSION}")
    return payload


def read_head_metadata(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """A checkpoint's ``redheart_head`` metadata (validated as a head checkpoint)."""
    key = f"analyzer_options.{kind}.checkpoint" if kind else "checkpoint"
    return _read(Path(path), key)["redheart_head"]


def _head_weights(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The head's weights, from a :func:`save_head` file or a Lightning ``.ckpt`` (``net.``)."""
    if any(k.startswith("net.") for k in state_dict):
        return {k.removeprefix("net."): v for k, v in state_dict.items() if k.startswith("net.")}
    return dict(state_dict)


def load_head(path: str | Path, kind: str, embedder_id: str) -> torch.nn.Module:
    """Load a trained head for the analyzer of ``kind`` on the embedder ``embedder_id``.

    Input: native embedder vectors ``(n, dim)`` float32. Output: emotion 7 logits in
    ``schema.EMOTIONS`` order; bentham 10 values in 0..1 in ``schema.BENTHAM_DIMENSIONS``
    order; regret 1 value in 0..1. The module is on CPU, in eval mode, without gradients.

    Raises :class:`ConfigError` (key ``analyzer_options.<kind>.checkpoint``) when the file is
    missing, is not a head checkpoint, is a head of another kind, or was trained on another
    embedder or label order.
    """
    key = f"analyzer_options.{kind}.checkpoint"
    target = head_target(kind, key)
    path = Path(path)
    payload = _read(path, key)
    meta = payload["redheart_head"]
    if meta.get("kind") != kind:
        raise ConfigError(key, f"{str(path)!r} is a {meta.get('kind')!r} head, not a {kind!r} "
                          f"head; give a checkpoint made by `redheart train {kind}`")
    if list(meta.get("labels", ())) != list(target.labels):
        raise ConfigError(key, f"{str(path)!r} was trained with label order {meta.get('labels')}, "
                          f"but this redheart uses {list(target.labels)}; retrain the head")
    if meta.get("embedder_id") != embedder_id:
        raise ConfigError(key, f"{str(path)!r} was trained on embedder {meta.get('embedder_id')!r}, "
                          f"but the configured embedder is {embedder_id!r}; retrain the head "
                          "with this embedder or set embedding.model to the one it was trained on")
    shape = HeadShape(**meta["shape"])
    net = HeadNet(shape)
    try:
        net.load_state_dict(_head_weights(payload["state_dict"]))
    except (KeyError, RuntimeError) as exc:
        raise ConfigError(key, f"{str(path)!r} holds weights that do not fit its recorded "
                          f"shape: {str(exc).splitlines()[0]}") from None
    net.eval()
    net.requires_grad_(False)
    return net
