"""Counters a running pipeline exposes: per stage and per request outcome.

``/metrics`` and tests read them through :meth:`Pipeline.stats`; they are plain integers
changed only on the event loop, so no lock is needed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class StageCounts:
    """``queued``: waiting for the stage's memory phase or micro-batch; ``running``: at work."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0


#: how a request ended
STATUSES = ("complete", "failed", "rejected", "cancelled")


@dataclass
class PipelineState:
    stages: dict[str, StageCounts] = field(default_factory=dict)
    requests_total: Counter = field(default_factory=Counter)
    in_flight: int = 0
    llm_retries_total: int = 0

    def stage(self, name: str) -> StageCounts:
        counts = self.stages.get(name)
        if counts is None:
            counts = self.stages[name] = StageCounts()
        return counts

    def snapshot(self) -> dict:
        return {
            "stages": {name: asdict(c) for name, c in self.stages.items()},
            "in_flight": self.in_flight,
            "requests_total": {s: self.requests_total.get(s, 0) for s in STATUSES},
            "llm_retries_total": self.llm_retries_total,
        }
