"""What :meth:`Pipeline.stream` yields: one small event per thing a user can watch happen.

Each event has a ``type`` and a JSON form (``to_dict``), so the CLI can print JSON Lines and the
service can send server-sent events without knowing the classes. A stream is
``stage_started``/``stage_finished`` pairs, ``partial`` outputs as soon as they exist, ``token``
chunks of the final summary, and last exactly one ``result``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

from ..schema import Record

if TYPE_CHECKING:
    from ..schema import AnalysisResult, StageError


@dataclass(frozen=True)
class StageStarted:
    stage: str
    type: ClassVar[str] = "stage_started"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "stage": self.stage}


@dataclass(frozen=True)
class StageFinished:
    """``error`` is the first error the stage recorded (the result holds all of them)."""

    stage: str
    duration_ms: float
    error: Optional["StageError"] = None
    type: ClassVar[str] = "stage_finished"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "stage": self.stage,
                                "duration_ms": round(self.duration_ms, 3)}
        if self.error is not None:
            data["error"] = self.error.to_dict()
        return data


class Partial:
    """One analyzer's output (``key`` = its name) or the LLM's reading (``key`` = ``llm.initial``).

    ``value`` is a plain dict. A typed part handed in (the :class:`InitialAnalysis`) is turned
    into one only when first read, so a reader that skips partials (``analyze()``) pays nothing.
    """

    __slots__ = ("key", "_value")
    type: ClassVar[str] = "partial"

    def __init__(self, key: str, value: "Record | dict[str, Any]"):
        self.key = key
        self._value = value

    @property
    def value(self) -> dict[str, Any]:
        if isinstance(self._value, Record):
            self._value = self._value.to_dict()
        return self._value

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "key": self.key, "value": self.value}

    def __repr__(self) -> str:
        return f"Partial(key={self.key!r}, value={self.value!r})"


@dataclass(frozen=True)
class Token:
    """A chunk of the final summary as the model writes it."""

    text: str
    type: ClassVar[str] = "token"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}


@dataclass(frozen=True)
class Result:
    """The finished :class:`~redheart_core.schema.AnalysisResult`; always the last event."""

    result: "AnalysisResult"
    type: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "result": self.result.to_dict()}


Event = Union[StageStarted, StageFinished, Partial, Token, Result]
