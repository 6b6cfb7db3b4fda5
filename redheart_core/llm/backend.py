"""The LLM backend contract.

A backend implements one method, :meth:`LLMBackend.complete`; the initial reading and the final
summary are built on it by the base class (prompt, parse, validate, one repair re-ask), so every
backend gets the same behaviour and a plugin author writes only the transport.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, AsyncIterator, Optional

from .messages import LLMRequest, LLMResponse, Message
from .reading import analyze_initial, stream_summary, summarize_final
from .usage import record_usage

__all__ = ["LLMBackend", "LLMRequest", "LLMResponse", "Message"]

if TYPE_CHECKING:
    from ..schema import AnalysisResult, InitialAnalysis


class LLMBackend(abc.ABC):
    """Base class of every LLM backend."""

    #: the registered name, set by the registry when the backend is built
    name: str = "?"
    #: whether the model reads only English (then Korean input is translated first)
    english_only: bool = False
    model: Optional[str] = None
    #: HTTP retries the backend's SDK made so far (read by the pipeline's ``llm_retries_total``)
    retries_total: int = 0

    @abc.abstractmethod
    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one request to the model and return its reply."""

    async def stream_complete(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield the reply's text in chunks; the default yields :meth:`complete`'s text once.

        A stream has no response object to hand back, so an implementation records its token
        usage itself (:func:`redheart_core.llm.usage.record_usage`) when the stream ends.
        """
        response = await self.complete(request)
        record_usage(response.usage)
        yield response.text

    async def analyze_initial(self, text: str) -> "InitialAnalysis":
        return await analyze_initial(self, text)

    async def summarize_final(self, result: "AnalysisResult") -> str:
        return await summarize_final(self, result)

    def stream_summary(self, result: "AnalysisResult") -> AsyncIterator[str]:
        """The final summary as it is written, built on :meth:`stream_complete`."""
        return stream_summary(self, result)

    async def aclose(self) -> None:
        """Release connections; safe to call more than once."""
