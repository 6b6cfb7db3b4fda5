"""One request on its way through the stages: its message, its growing result, its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..analyzers.base import AnalyzerItem
from ..schema import AnalysisResult, TaskMessage
from .events import Event

if TYPE_CHECKING:
    import numpy as np

    from .stages.handler import StageHandler


@dataclass(eq=False)
class RequestContext:
    request: TaskMessage
    result: AnalysisResult
    emit: Callable[[Event], None]
    #: the stages this request runs, fixed when it is submitted (the routing table may change)
    route: tuple["StageHandler", ...] = ()
    #: index in ``route`` of the stage the request is in (-1: not started)
    position: int = -1
    #: the stage whose micro-batch currently holds this request's item, if any
    batching: str | None = None
    #: the shared embedder's vector of ``english_text``, once a stage computed it
    embedding: "np.ndarray | None" = None
    embedding_error: str | None = None
    #: analyzers that failed or were skipped, so their dependents are skipped too
    failed_analyzers: set[str] = field(default_factory=set)
    #: summary chunks already sent (llm_final may be retried only before the first)
    tokens_emitted: int = 0
    #: set by a stage when the request cannot go on (invalid input)
    stop: bool = False
    #: Korean text reached an English-only encoder untranslated: confidences are lowered once
    #: the analyzers are done (see :mod:`.caveats`)
    unread_by_encoder: bool = False
    #: analyzer outputs as dependents read them (plain dicts), converted from the result once
    _outputs: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    @property
    def english_text(self) -> str:
        return self.result.translated_text or self.result.text

    def stage_index(self, name: str) -> int:
        for i, handler in enumerate(self.route):
            if handler.name == name:
                return i
        return -1

    def add_usage(self, usage: Mapping[str, int]) -> None:
        totals = self.result.llm.usage
        for key, value in usage.items():
            totals[key] = totals.get(key, 0) + value

    def record_output(self, name: str, output: dict[str, Any]) -> None:
        """Store an analyzer's output in the result (typed; raises ValueError on a wrong shape)."""
        self._outputs.pop(name, None)
        self.result.set_analyzer_output(name, output)

    def output_of(self, name: str) -> dict[str, Any] | None:
        """An analyzer's stored output as a plain dict, or None if it has none."""
        if name not in self._outputs:
            self._outputs[name] = self.result.analyzer_output(name)
        return self._outputs[name]

    def analyzer_item(self, text: str, requires: tuple[str, ...]) -> AnalyzerItem:
        """What an analyzer reads of this request: ``text`` as submitted, its translation,
        vector and LLM reading, and the outputs of the analyzers it ``requires``."""
        results: dict[str, Any] = {name: self.output_of(name) for name in requires}
        return AnalyzerItem(
            request_id=self.request.request_id,
            text=text,
            language=self.result.language,
            embedding=self.embedding,
            initial=self.result.llm.initial,
            results=results,
            translated_text=self.result.translated_text,
            namespace=self.request.namespace,
        )
