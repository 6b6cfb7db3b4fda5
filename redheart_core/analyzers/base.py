"""The analyzer contract: what the pipeline hands an analyzer and what it expects back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # numpy / torch stay out of start-up
    import numpy as np
    import torch

    from ..memory.manager import UnifiedMemoryManager
    from ..schema import InitialAnalysis


@dataclass
class AnalyzerItem:
    """One request as an analyzer sees it.

    ``embedding`` is the shared embedder's vector of ``text`` (or of ``translated_text`` when
    a translation was made), computed once per request; ``results`` holds the outputs of the
    analyzers named in ``requires``.
    """

    request_id: str
    text: str
    language: str = "en"
    embedding: "np.ndarray | None" = None
    initial: "InitialAnalysis | None" = None
    results: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    translated_text: str | None = None
    #: whose request it is: the caller's experience namespace ("" unless the service names one)
    namespace: str = ""

    @property
    def english_text(self) -> str:
        """The text an English-only consumer should read."""
        return self.translated_text or self.text


@runtime_checkable
class Analyzer(Protocol):
    """An analyzer: ``analyze_batch`` returns one JSON-serialisable dict per item, in order.

    ``modules()`` (optional) returns the torch modules it runs, for the memory manager.
    """

    name: str
    requires: tuple[str, ...]

    def analyze_batch(self, items: Sequence[AnalyzerItem]) -> list[dict[str, Any]]: ...



def register_module(memory: "UnifiedMemoryManager | None", name: str,
                    module: "torch.nn.Module | None", phase: str, priority: int = 1) -> None:
    """Hand a torch module to the memory manager (none: built outside a runtime)."""
    if memory is not None and module is not None:
        memory.register(name, module, phases={phase}, priority=priority)
