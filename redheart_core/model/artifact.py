"""The Red Heart model file: what training changed in the base encoder, and the heads.

One safetensors file: ``encoder.<name>`` holds the difference between each fine-tuned weight
and the base encoder's (float16: the differences are small, so halving them loses nothing that
matters and keeps the file small), ``heads.<name>`` the shipped heads, and the metadata a JSON
description (base, pooling, calibration, dev figures, how it was trained). Loading adds the
differences to the bundled base model, so nothing but this file ships, and refuses a base whose
weights are not the ones it was trained from.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import ConfigError
from .encoder import PoolingRule
from .heads import Calibration

if TYPE_CHECKING:
    import torch

FORMAT = "redheart-model"
VERSION = 1
#: the model that ships with redheart and that ``embedding.model: redheart`` names
SHIPPED = "redheart-minilm-v1"


def shipped_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("weights").joinpath(f"{SHIPPED}.safetensors")))


@dataclass
class ModelMeta:
    """The artifact's description (stored as JSON in the safetensors metadata)."""

    name: str
    base: str                   # an ``embedding.model`` value for the base encoder
    base_digest: str            # of the base weights the differences apply to
    tuned: list[str]            # base parameter names that carry a difference
    heads: list[str]
    hidden: int
    pooling: PoolingRule = field(default_factory=PoolingRule)
    calibration: Calibration = field(default_factory=Calibration)
    metrics: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelMeta":
        data = json.loads(text)
        data["pooling"] = PoolingRule(**data["pooling"])
        data["calibration"] = Calibration.from_dict(data["calibration"])
        return cls(**data)


def base_digest(state: Mapping[str, "torch.Tensor"], names: list[str]) -> str:
    """A digest of the named base weights: a different base must not take these differences."""
    digest = hashlib.blake2b(digest_size=12)
    for name in sorted(names):
        tensor = state[name].detach().cpu().contiguous().float()
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_model(path: str | Path, meta: ModelMeta, deltas: Mapping[str, "torch.Tensor"],
               heads: Mapping[str, "torch.Tensor"]) -> Path:
    """Write the artifact atomically (a reader never sees half a file)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"encoder.{k}": v.detach().cpu().to(torch.float16).contiguous() for k, v in deltas.items()}
    tensors.update({f"heads.{k}": v.detach().cpu().float().contiguous() for k, v in heads.items()})
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "version": str(VERSION),
                                            "meta": meta.to_json()})
    os.replace(tmp, path)
    return path


def read_model(path: str | Path, key: str = "embedding.model") -> tuple[ModelMeta, dict, dict]:
    """``(meta, encoder differences, head weights)`` of an artifact; errors name ``key``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(key, f"{str(path)!r} not found; give 'redheart', 'bundled-minilm', a "
                          "model directory, or a file made by `redheart train model`")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            if header.get("format") != FORMAT:
                raise ConfigError(key, f"{str(path)!r} is not a Red Heart model file (no "
                                  f"{FORMAT!r} metadata); make one with `redheart train model`")
            if header.get("version") != str(VERSION):
                raise ConfigError(key, f"{str(path)!r} is model format version "
                                  f"{header.get('version')!r}; this redheart reads version {VERSION}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except ConfigError:
        raise
    except Exception as exc:  # safetensors raises its own error types for a foreign file
        raise ConfigError(key, f"{str(path)!r} is not a readable safetensors file "
                          f"({type(exc).__name__})") from None
    meta = ModelMeta.from_json(header["meta"])
    deltas = {k.removeprefix("encoder."): v for k, v in tensors.items() if k.startswith("encoder.")}
    heads = {k.removeprefix("heads."): v for k, v in tensors.items() if k.startswith("heads.")}
    return meta, deltas, heads
