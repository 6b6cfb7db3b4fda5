"""The options of the built-in analyzers (``analyzer_options.<name>.*``), validated by OmegaConf.

Kept apart from the analyzers so that registering them imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class EmotionOptions:
    """Options of the ``emotion`` analyzer."""

    checkpoint: Optional[str] = None  # a trained head (redheart train emotion); default: prototypes
    temperature: Optional[float] = None  # softmax temperature; null: calibrated on the exemplars
    top_k: int = 3  # nearest exemplars averaged per label
    llm_weight: float = 0.5  # share of the LLM's reading in the distribution (0..1)


@dataclass
class BenthamOptions:
    """Options of the ``bentham`` analyzer."""

    checkpoint: Optional[str] = None  # a trained head giving the 10 values; default: the calculus


@dataclass
class EthicsOptions:
    """Options of the ``ethics`` analyzer."""

    llm_weight: float = 0.3  # how far each ethical issue the LLM names raises its foundation (0..1)


@dataclass
class RegretOptions:
    """Options of the ``regret`` analyzer."""

    checkpoint: Optional[str] = None  # a trained head giving anticipated regret (blended in)
    max_duration_hours: float = 168.0  # how long the strongest regret is expected to last


@dataclass
class SurdOptions:
    """Options of the ``surd`` analyzer."""

    samples: int = 2000  # Monte-Carlo samples per request
    bins: int = 4  # equal-width bins per variable for the joint histogram
    spread: float = 0.15  # noise scale on the 0..1 factors (doubled for valence)


@dataclass
class CircuitOptions:
    """Options of the ``circuit`` analyzer (the store itself is configured under ``experience``)."""

    store: bool = True  # write each decision back into the experience store
    top_k: Optional[int] = None  # matches to recall; null: experience.top_k
    threshold: Optional[float] = None  # least cosine similarity; null: experience.threshold
