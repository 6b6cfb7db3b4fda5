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
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from .base import AnalyzerItem
from .bentham import final_score, situation_factors, tone_of
from .options import SurdOptions
from .surd import surd_from_samples

#: the factors perturbed, as the result names them
SOURCES = ("valence", "certainty", "extent", "urgency", "harm")
_FIELDS = {"valence": "valence", "certainty": "certainty", "extent": "extent",
           "urgency": "urgency", "harm": "other_harm"}
TARGET = "final_score"


def request_seed(seed: int, text: str) -> int:
    """A 64-bit generator seed from the config seed and the text (stable across processes)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{text}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def propagate(factors: Any, rng: np.random.Generator, samples: int, spread: float) -> dict[str, np.ndarray]:
    """``samples`` perturbed values of each source and the resulting final scores."""
    sigma = spread * (1.5 - float(factors.clarity))
    noise = rng.standard_normal((len(SOURCES), samples))
    drawn = {}
    for row, name in enumerate(SOURCES):
        point = float(getattr(factors, _FIELDS[name]))
        if name == "valence":
            drawn[name] = np.clip(point + 2 * sigma * noise[row], -1.0, 1.0)
        else:
            drawn[name] = np.clip(point + sigma * noise[row], 0.0, 1.0)
    perturbed = replace(factors, **{_FIELDS[n]: v for n, v in drawn.items()})
    drawn[TARGET] = np.asarray(final_score(perturbed), dtype=np.float64)
    return drawn


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
        return [self.analyze(item) for item in items]

    def analyze(self, item: AnalyzerItem) -> dict[str, Any]:
        samples = int(self.options.samples)
        tone = tone_of(item.results["bentham"]["final_score"]) if self.model else None
        factors = situation_factors(item, item.results["emotion"], tone)
        rng = np.random.default_rng(request_seed(self.seed, item.text))
        drawn = propagate(factors, rng, samples, float(self.options.spread))
        result = surd_from_samples(drawn[TARGET], [drawn[s] for s in SOURCES], bins=int(self.options.bins))
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
