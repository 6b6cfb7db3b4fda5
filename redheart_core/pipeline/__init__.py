"""The I/O pipeline: queues, stages, barriers, micro-batching, retries, streaming events."""

from __future__ import annotations

from .events import Partial, Result, StageFinished, StageStarted, Token
from .pipeline import Pipeline, analyze
from .queue import QueueFull
from .stages import StageHandler

__all__ = ["Pipeline", "analyze", "QueueFull", "StageHandler", "StageStarted", "StageFinished",
           "Partial", "Token", "Result"]
