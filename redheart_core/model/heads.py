"""The heads on the encoder's sentence vectors, and what they say on the result's scales.

Every head reads the same unit-length sentence vector the embedder caches, so a clause vector
or a counterfactual scenario's vector is read by the same heads as the whole text. The raw
outputs are put on the result's scales by a :class:`Calibration` fitted on dev data when the
model is trained: acceptability a probability (temperature-scaled), utility a centred score
whose logistic is Bentham's final score, valence / arousal / dominance on -1..1 (EmoBank's 1..5
mapped linearly), emotions a distribution.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .encoder import rowwise
from .tasks import TASKS


class HeadSet(nn.Module):
    """One small network per task: ``LayerNorm -> Linear -> GELU -> Dropout -> Linear``."""

    def __init__(self, dim: int, tasks: Sequence[str], hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.heads = nn.ModuleDict({
            name: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                nn.Dropout(dropout), nn.Linear(hidden, TASKS[name].outputs))
            for name in tasks})

    def forward(self, vectors: torch.Tensor, tasks: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        names = tasks if tasks is not None else list(self.heads)
        return {name: self.heads[name](vectors) for name in names}


@dataclass(frozen=True)
class Calibration:
    """Fitted on dev data at training time; stored in the artifact."""

    acceptability_temperature: float = 1.0
    utility_center: float = 0.0
    utility_scale: float = 1.0
    #: VAD is learned standardised; these undo it (on the -1..1 scale)
    vad_mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    vad_std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Calibration":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class Readings:
    """What the heads say about ``n`` vectors, on the result's scales."""

    acceptability: np.ndarray  # (n,) probability that people find it acceptable
    utility: np.ndarray        # (n,) centred pleasantness score (logistic -> 0..1)
    vad: np.ndarray            # (n, 3) valence, arousal, dominance in -1..1
    emotion: np.ndarray        # (n, 7) distribution over schema.EMOTIONS

    def __len__(self) -> int:
        return len(self.utility)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


#: distinct vectors whose raw outputs :class:`ModelHeads` keeps (about 1.6 kB each)
READ_CACHE_ROWS = 4096


@dataclass
class ModelHeads:
    """The shipped heads with their calibration: vectors in, :class:`Readings` out."""

    net: HeadSet
    calibration: Calibration = field(default_factory=Calibration)
    _seen: "OrderedDict[bytes, np.ndarray]" = field(default_factory=OrderedDict, init=False,
                                                   repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)

    def raw(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Each head's raw outputs, the same for a vector whatever batch it comes in.

        On the CPU the heads run as :class:`FoldedHeads`, one vector at a time, and each
        distinct vector is read once (:meth:`_folded_once`); elsewhere as the network, on the
        whole batch.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        param = next(self.net.parameters())
        if param.device.type == "cpu":
            out = self._folded_once(vectors)
            return {name: out[:, cols] for name, cols in self.folded.outputs.items()}
        with torch.inference_mode():
            out = self.net(torch.as_tensor(vectors, device=param.device))
        return {k: v.float().cpu().numpy().astype(np.float64) for k, v in out.items()}

    def _folded_once(self, vectors: np.ndarray) -> np.ndarray:
        """The folded heads' outputs ``(n, total)``, each distinct vector read once: every
        analyzer asks about the same situation's and clauses' vectors, several per request."""
        keys = [row.tobytes() for row in vectors]
        rows: list[np.ndarray | None] = []
        with self._lock:
            for key in keys:
                row = self._seen.get(key)
                if row is not None:
                    self._seen.move_to_end(key)
                rows.append(row)
        todo = [i for i, row in enumerate(rows) if row is None]
        if todo:
            fresh = self.folded.outputs_of(vectors[todo])
            with self._lock:
                for i, row in zip(todo, fresh):
                    rows[i] = self._seen[keys[i]] = row
                while len(self._seen) > READ_CACHE_ROWS:
                    self._seen.popitem(last=False)
        if not rows:
            return np.zeros((0, self.folded.second.shape[1]))
        return np.stack(rows)  # type: ignore[arg-type]

    @cached_property
    def folded(self) -> "FoldedHeads":
        return FoldedHeads.fold(self.net)

    def read(self, vectors: np.ndarray) -> Readings:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.net.dim)
        raw = self.raw(vectors)
        cal = self.calibration
        acceptability = 1 / (1 + np.exp(-raw["acceptability"][:, 0] / cal.acceptability_temperature))
        utility = (raw["utility"][:, 0] - cal.utility_center) / cal.utility_scale
        vad = np.clip(raw["vad"] * np.asarray(cal.vad_std) + np.asarray(cal.vad_mean), -1.0, 1.0)
        return Readings(acceptability, utility, vad, _softmax(raw["emotion"]))


@dataclass(frozen=True)
class FoldedHeads:
    """Every head as two matrices read one vector at a time.

    A matrix-matrix product's blocking depends on how many rows share it, which would move a
    text's scores in the last bits with its batch. Each head's LayerNorm affine is folded into
    its first layer (``W diag(g) x̂ + W b + c``), the first layers are stacked side by side and
    the second ones block-diagonally, so one vector takes two matrix-vector products. Folded in
    float64; the wide first product runs in float32, the network's own precision (in float64
    every vector would stream a matrix twice the size through the cache: 5x slower here), the
    rest in float64.
    """

    eps: float
    first: np.ndarray   # (dim, heads * hidden), float32
    first_bias: np.ndarray
    second: np.ndarray  # (heads * hidden, total outputs)
    second_bias: np.ndarray
    outputs: dict[str, slice]

    @classmethod
    def fold(cls, net: HeadSet) -> "FoldedHeads":
        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().double().cpu().numpy()

        firsts, first_biases, seconds, second_biases, outputs = [], [], [], [], {}
        for name, (norm, linear, _, _, out) in net.heads.items():
            w = array(linear.weight)
            firsts.append((w * array(norm.weight)).T)
            first_biases.append(w @ array(norm.bias) + array(linear.bias))
            seconds.append(array(out.weight).T)
            second_biases.append(array(out.bias))
            start = sum(m.shape[1] for m in seconds[:-1])
            outputs[name] = slice(start, start + out.out_features)
        second = np.zeros((len(seconds) * net.hidden, sum(m.shape[1] for m in seconds)))
        for i, (m, cols) in enumerate(zip(seconds, outputs.values())):
            second[i * net.hidden:(i + 1) * net.hidden, cols] = m
        eps = next(iter(net.heads.values()))[0].eps  # every head's LayerNorm is built alike
        return cls(eps, np.hstack(firsts).astype(np.float32), np.concatenate(first_biases), second,
                   np.concatenate(second_biases), outputs)

    def outputs_of(self, vectors: np.ndarray) -> np.ndarray:
        """Every head's outputs side by side, ``(n, total)``."""
        x = np.asarray(vectors, dtype=np.float64)
        centred = x - x.mean(axis=-1, keepdims=True)
        normed = centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + self.eps)
        hidden = rowwise(normed.astype(np.float32), self.first) + self.first_bias
        hidden = 0.5 * hidden * (1.0 + torch.special.erf(torch.from_numpy(hidden / np.sqrt(2.0))).numpy())
        return rowwise(hidden, self.second) + self.second_bias
