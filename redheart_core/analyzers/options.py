"""The options of the built-in analyzers (``analyzer_options.<name>.*``), validated by OmegaConf
and by their own ``__post_init__`` ranges, once, when the config is loaded.

Kept apart from the analyzers so that registering them imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Optional

from ..errors import ConfigError
from ..options import check_range

if TYPE_CHECKING:
    from .embedder import Embedder


class Method(str, Enum):
    """Where an analyzer's judgement comes from.

    ``model``: the Red Heart model's heads, learned from people's labels; ``heuristic``: the
    earlier prototype and hand-set readings, kept for comparison; ``auto``: the model when the
    configured embedder has heads (``embedding.model: redheart``), else the heuristic.
    """

    auto = "auto"
    model = "model"
    heuristic = "heuristic"


def uses_model(method: Method, embedder: "Embedder", key: str) -> bool:
    """Whether an analyzer with ``method`` reads the model's heads; ``model`` without heads is
    a ConfigError at ``key``."""
    if Method(method) is Method.model and embedder.heads is None:
        raise ConfigError(key, f"'model' needs an embedder with heads, and {embedder.model_id!r} "
                          "has none; set embedding.model=redheart (the default) or "
                          f"{key}=heuristic")
    return Method(method) is not Method.heuristic and embedder.heads is not None


@dataclass
class EmotionOptions:
    """Options of the ``emotion`` analyzer."""

    method: Method = Method.auto  # model: the Red Heart heads; heuristic: exemplar prototypes
    checkpoint: Optional[str] = None  # a trained single head (redheart train emotion) instead
    temperature: Optional[float] = None  # softmax temperature; null: calibrated on the exemplars
    top_k: int = 3  # nearest exemplars averaged per label
    llm_weight: float = 0.5  # share of the LLM's reading in the distribution (0..1)

    def __post_init__(self) -> None:
        check_range(self, "top_k", 1)
        check_range(self, "llm_weight", 0.0, 1.0)
        check_range(self, "temperature", 1e-6)


@dataclass
class BenthamOptions:
    """Options of the ``bentham`` analyzer."""

    method: Method = Method.auto  # model: the utility head scores; heuristic: the calculus alone
    checkpoint: Optional[str] = None  # a trained head giving the 10 values; default: the calculus


@dataclass
class EthicsOptions:
    """Options of the ``ethics`` analyzer."""

    method: Method = Method.auto  # model: wrongness from the acceptability head raises salience
    llm_weight: float = 0.3  # how far each ethical issue the LLM names raises its foundation (0..1)

    def __post_init__(self) -> None:
        check_range(self, "llm_weight", 0.0, 1.0)


@dataclass
class RegretOptions:
    """Options of the ``regret`` analyzer."""

    checkpoint: Optional[str] = None  # a trained head giving anticipated regret (blended in)
    max_duration_hours: float = 168.0  # how long the strongest regret is expected to last

    def __post_init__(self) -> None:
        check_range(self, "max_duration_hours", 0.0)


@dataclass
class SurdOptions:
    """Options of the ``surd`` analyzer."""

    method: Method = Method.auto  # model: explain the calculus under the utility head's tone
    samples: int = 2000  # Monte-Carlo samples per request
    bins: int = 4  # equal-width bins per variable for the joint histogram
    spread: float = 0.15  # noise scale on the 0..1 factors (doubled for valence)

    def __post_init__(self) -> None:
        check_range(self, "samples", 10)
        check_range(self, "bins", 2, 16)
        check_range(self, "spread", 0.0, 1.0)


@dataclass
class CircuitOptions:
    """Options of the ``circuit`` analyzer (the store itself is configured under ``experience``)."""

    method: Method = Method.auto  # model: acceptability carries the score; heuristic: weighted mean
    store: bool = True  # write each decision back into the experience store
    top_k: Optional[int] = None  # matches to recall; null: experience.top_k
    threshold: Optional[float] = None  # least cosine similarity; null: experience.threshold

    def __post_init__(self) -> None:
        check_range(self, "top_k", 1)
        check_range(self, "threshold", 0.0, 1.0)
