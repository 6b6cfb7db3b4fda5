"""The stage contract: one stage's work for one request.

The pipeline around a handler takes care of the memory phase, the timeout, retries, timings,
events, hooks and logs; the handler only does the work.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from ..batching import MicroBatcher

if TYPE_CHECKING:
    from ..context import RequestContext


class StageHandler(abc.ABC):
    """Base class of a stage. ``phase`` is the memory phase the pipeline holds around ``run``
    (None: none); a ``retryable`` stage is run again with backoff while ``can_retry`` allows."""

    name: str = "?"
    phase: str | None = None
    retryable: bool = False
    #: the micro-batcher a batching stage gathers requests in (nudged when a request leaves)
    batcher: MicroBatcher[Any, Any] | None = None

    @abc.abstractmethod
    async def run(self, ctx: "RequestContext", text: str) -> None:
        """Do the stage's work for one request; ``text`` is the situation as submitted (the
        translation, once there is one, is ``ctx.english_text``). Raise to record a stage
        failure."""

    def can_retry(self, ctx: "RequestContext") -> bool:
        return self.retryable

    async def aclose(self) -> None:
        """Finish background work (micro-batches already sent)."""
