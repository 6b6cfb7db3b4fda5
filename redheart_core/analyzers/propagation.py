"""The per-request ``surd`` analyzer: what drives the verdict, uniquely, redundantly, jointly.

The situation's Bentham factors are uncertain. This analyzer draws ``samples`` perturbed copies
of the named source factors (Gaussian noise, standard deviation ``spread * (1.5 - clarity)``
on the 0..1 factors and twice that on valence, clipped to range; the other factors stay at their
point values), pushes all of them at once through the vectorised Bentham calculus
(:func:`.bentham.final_score`) and decomposes the final score's information with
:func:`.surd.surd_from_samples`. The random generator is seeded by the config's ``seed`` and the
text, so the same text and config always give the same decomposition.

Under the Red Heart model (``method: model``, the default) Bentham's ``final_score`` is the
utility head's, which no named factor feeds; the decomposition then explains the calculus'
layered score (``target: base_score``), with the utility head's tone as the valence source.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace
from typing import Any, Sequence

import numpy as np

from .base import AnalyzerItem
from .bentham import Factors, final_score_in_range, situation_factors, tone_of
from .options import SurdOptions
from .surd import SurdResult, surd_of_samples

#: the factors perturbed, as the result names them
SOURCES = ("valence", "certainty", "extent", "urgency", "harm")
_FIELDS = {"valence": "valence", "certainty": "certainty", "extent": "extent",
           "urgency": "urgency", "harm": "other_harm"}
TARGET = "final_score"


def request_seed(seed: int, text: str) -> int:
    """A 64-bit generator seed from the config seed and the text (stable across processes)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{text}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def propagate(factors: Sequence[Factors], noises: np.ndarray, spread: float) -> np.ndarray:
    """Perturbed sources and the resulting final scores of a batch: ``(batch, samples, 1 +
    sources)`` with the target first, from each item's standard-normal ``noises[b]``
    ``(sources, samples)``; every item goes through one vectorised calculus call."""
    def column(name: str) -> np.ndarray:
        return np.array([[float(getattr(f, name))] for f in factors])

    sigma = spread * (1.5 - column("clarity"))
    drawn = []
    for row, name in enumerate(SOURCES):
        point = column(_FIELDS[name])
        if name == "valence":
            drawn.append(np.clip(point + 2 * sigma * noises[:, row], -1.0, 1.0))
        else:
            drawn.append(np.clip(point + sigma * noises[:, row], 0.0, 1.0))
    points = Factors(**{f.name: column(f.name) for f in fields(Factors)}).clipped()
    perturbed = replace(points, **{_FIELDS[n]: d for n, d in zip(SOURCES, drawn)})  # in range
    target = np.asarray(final_score_in_range(perturbed), dtype=np.float64)
    return np.stack([target, *drawn], axis=-1)


class SurdAnalyzer:
    name = "surd"
    requires: tuple[str, ...] = ("emotion", "bentham")
    stage = "red_heart"

    def __init__(self, options: SurdOptions | None = None, seed: int = 0, model: bool = False):
        self.options = options if options is not None else SurdOptions()
        self.seed = int(seed)
        self.model = model
        self.target = "base_score" if model else TARGET

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]:
        """Each item's noise comes from its own seeded generator; the batch is propagated and
        decomposed together (:func:`propagate`, :func:`.surd.surd_of_samples`)."""
        if not items:
            return []
        samples = int(self.options.samples)
        factors = [self._factors(item) for item in items]
        noises = np.stack([np.random.default_rng(request_seed(self.seed, item.text))
                           .standard_normal((len(SOURCES), samples)) for item in items])
        drawn = propagate(factors, noises, float(self.options.spread))
        return [self._output(result, samples)
                for result in surd_of_samples(drawn, int(self.options.bins))]

    def analyze(self, item: AnalyzerItem) -> dict[str, Any]:
        return self.analyze_batch([item])[0]

    def _factors(self, item: AnalyzerItem) -> Factors:
        tone = tone_of(item.results["bentham"]["final_score"]) if self.model else None
        return situation_factors(item, item.results["emotion"], tone)

    def _output(self, result: SurdResult, samples: int) -> dict[str, Any]:
        named = result.named(SOURCES)
        output = {
            "target": self.target,
            "sources": list(SOURCES),
            "unique": named["unique"],
            "redundant": named["redundant"],
            "synergistic": named["synergistic"],
            "mutual_information": result.total_mutual_information,
            "info_leak": result.info_leak,
            "samples": samples,
        }
        if result.warning is not None:
            output["warning"] = result.warning
        return output
