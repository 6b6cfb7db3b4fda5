"""The result a user gets back, and the messages that carry a request through the pipeline.

Field names are a contract (ARCHITECTURE section 7, ``schema_version: "1"``). Analyzers return
plain dicts; :meth:`AnalysisResult.from_dict` turns them into these typed parts, so an analyzer
that returns an unknown field or a wrong shape fails loudly instead of producing a result no
consumer can read.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from .errors import error_type
from .phases import STAGES

SCHEMA_VERSION = "1"

#: the one canonical emotion label set and order, everywhere
EMOTIONS: tuple[str, ...] = ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger")
LOSS_EMOTIONS: tuple[str, ...] = ("sadness", "fear", "disgust", "anger")
LEVELS: tuple[str, ...] = ("self", "other", "community")
SCENARIO_TYPES: tuple[str, ...] = ("optimistic", "neutral", "pessimistic")
BENTHAM_DIMENSIONS: tuple[str, ...] = (
    "intensity", "duration", "certainty", "propinquity", "fecundity", "purity", "extent",
    "external_cost", "redistribution_effect", "self_damage",
)
BENTHAM_LAYERS: tuple[str, ...] = ("contextual", "temporal", "social", "ethical", "emotional", "cognitive")
FOUNDATIONS: tuple[str, ...] = ("care_harm", "fairness", "loyalty", "authority", "sanctity", "liberty")

T = TypeVar("T")


# ------------------------------------------------------------------ conversion
#
# Each type's check is compiled once into a function (:func:`_converter`): a result holds a few
# hundred values and the pipeline converts every analyzer's output, so re-reading type hints per
# value would cost more than the analysis' own arithmetic. Where a value sits is worked out only
# when it is wrong.

Converter = Callable[[Any], Any]


class _Mismatch(ValueError):
    """A value of the wrong shape; ``path`` is where below the value being converted."""

    def __init__(self, message: str, path: tuple[str, ...] = ()):
        super().__init__(message)
        self.message, self.path = message, path

    def at(self, step: str) -> "_Mismatch":
        return _Mismatch(self.message, (step, *self.path))


def _where(where: str, path: tuple[str, ...]) -> str:
    for step in path:
        where = where + step if step.startswith("[") else (f"{where}.{step[1:]}" if where else step[1:])
    return where


def _convert(tp: Any, value: Any, where: str) -> Any:
    try:
        return _converter(tp)(value)
    except _Mismatch as exc:
        raise ValueError(f"{_where(where, exc.path)}: {exc.message}") from None


def _from_dict(cls: type[T], data: dict[str, Any], where: str) -> T:
    try:
        return _dataclass_converter(cls)(data)
    except _Mismatch as exc:
        raise ValueError(f"{_where(where, exc.path) or cls.__name__}: {exc.message}") from None


def _checked(kind: type, noun: str) -> Converter:
    def check(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _Mismatch(f"expected {noun}, got {value!r}")
        return value
    return check


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch(f"expected a number, got {value!r}")
    return float(value)


@functools.cache
def _converter(tp: Any) -> Converter:
    """The function that checks and converts a value to ``tp`` (compiled once per type)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return _identity
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        inner = _converter(next(a for a in args if a is not type(None)))
        if type(None) not in args:
            return inner
        return lambda value: None if value is None else inner(value)
    if dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    if origin in (list, List):
        (item_type,) = typing.get_args(tp) or (Any,)
        return _list_converter(_converter(item_type))
    if origin in (dict, Dict):
        _, item_type = typing.get_args(tp) or (str, Any)
        return _dict_converter(_converter(item_type))
    if tp is float:
        return _number
    if tp is int:
        return _checked(int, "an integer")
    if tp is bool:
        return _checked(bool, "true or false")
    if tp is str:
        return _checked(str, "a string")
    return _identity


def _identity(value: Any) -> Any:
    return value


def _list_converter(item: Converter) -> Converter:
    def convert(value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(f"expected a list, got {type(value).__name__}")
        if item is _identity:
            return list(value)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except _Mismatch as exc:
                raise exc.at(f"[{i}]") from None
        return out
    return convert


def _dict_converter(item: Converter) -> Converter:
    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Mismatch(f"expected an object, got {type(value).__name__}")
        if item is _number and all(type(k) is str and type(v) is float for k, v in value.items()):
            return dict(value)  # already what the loop below makes (analyzers' many scores)
        out = {}
        for k, v in value.items():
            try:
                out[str(k)] = item(v)
            except _Mismatch as exc:
                raise exc.at(f".{k}") from None
        return out
    return convert


@functools.cache
def _dataclass_converter(cls: type) -> Converter:
    """A dataclass' converter: a dict with only its fields, each converted by its type hint."""
    hints = typing.get_type_hints(cls)
    names = frozenset(f.name for f in dataclasses.fields(cls))
    fields_of: dict[str, Converter] = {}

    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise _Mismatch(f"expected an object, got {type(value).__name__}")
        unknown = value.keys() - names
        if unknown:
            raise _Mismatch(f"unknown field(s) {sorted(unknown)}; expected {sorted(names)}")
        if not fields_of:  # resolved on first use: a field may name a class defined later
            fields_of.update({k: _converter(hints[k]) for k in names})
        kwargs = {}
        for k, v in value.items():
            try:
                kwargs[k] = fields_of[k](v)
            except _Mismatch as exc:
                raise exc.at(f".{k}") from None
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise _Mismatch(str(exc)) from None
    return convert


_LEAVES = (str, float, int, bool, type(None))


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass' field names (None for any other type), worked out once per type."""
    return tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready containers: what :func:`dataclasses.asdict` gives, without its
    deep copy of every leaf (the leaves here are immutable numbers and strings)."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class Record:
    """Mixin: JSON round-trip for the dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return _from_dict(cls, data, "")

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))  # type: ignore[attr-defined]


# ------------------------------------------------------------------ LLM reading


@dataclass
class Scenario(Record):
    type: str
    action: str
    outcome: str = ""
    ethical_implications: str = ""


@dataclass
class InitialAnalysis(Record):
    """The LLM's initial reading of the situation."""

    emotions: Dict[str, float] = field(default_factory=dict)
    stakeholders: List[str] = field(default_factory=list)
    scenarios: List[Scenario] = field(default_factory=list)
    ethics: List[str] = field(default_factory=list)
    regret_factors: List[str] = field(default_factory=list)


@dataclass
class LLMPart(Record):
    backend: str = "none"
    model: Optional[str] = None
    initial: Optional[InitialAnalysis] = None
    summary: Optional[str] = None
    usage: Dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------ analyzers


@dataclass
class EmotionLevel(Record):
    distribution: Dict[str, float]
    primary: str
    valence: float
    arousal: float
    dominance: float
    intensity: int
    confidence: float


@dataclass
class EmotionIntegration(Record):
    primary: str
    weights: Dict[str, float]
    critical_loss: bool
    priority_reversed: bool


@dataclass
class EmotionPart(EmotionLevel):
    """The whole text's emotion, plus each level's and their integration."""

    levels: Dict[str, EmotionLevel]
    integrated: EmotionIntegration


@dataclass
class BenthamScenario(Record):
    type: str
    action: str
    final_score: float


@dataclass
class BenthamPart(Record):
    values: Dict[str, float]
    layers: Dict[str, float]
    base_score: float
    final_score: float
    confidence: float
    scenarios: List[BenthamScenario] = field(default_factory=list)


@dataclass
class RegretScenario(Record):
    type: str
    action: str
    utility: float
    regret: float


@dataclass
class RegretPart(Record):
    anticipated: float
    experienced: float
    intensity: float
    duration_hours: float
    best_alternative: str
    scenarios: List[RegretScenario]
    confidence: float


@dataclass
class SurdPart(Record):
    target: str
    sources: List[str]
    unique: Dict[str, float]
    redundant: Dict[str, float]
    synergistic: Dict[str, float]
    mutual_information: float
    info_leak: float
    samples: int
    #: set when the samples are too few for the bins (redheart_core.analyzers.surd.MIN_SAMPLES_PER_BIN)
    warning: Optional[str] = None


@dataclass
class CircuitPart(Record):
    final_ethical_score: float
    confidence: float
    reasoning_trace: List[str]
    experience_matches: List[Dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------ the result


@dataclass
class MemoryPart(Record):
    strategy: str = "none"
    device: str = "cpu"
    peak_gpu_bytes: int = 0
    swaps: int = 0


@dataclass
class Provenance(Record):
    config_hash: str = ""
    plugins: Dict[str, str] = field(default_factory=dict)
    models: Dict[str, str] = field(default_factory=dict)


@dataclass
class StageError(Record):
    stage: str
    type: str
    message: str


#: result attribute -> part type, for the built-in analyzers; others land in ``extras``
ANALYZER_PARTS: dict[str, type] = {
    "emotion": EmotionPart,
    "bentham": BenthamPart,
    "ethics": dict,
    "regret": RegretPart,
    "surd": SurdPart,
    "circuit": CircuitPart,
}


@dataclass
class AnalysisResult(Record):
    request_id: str
    text: str
    schema_version: str = SCHEMA_VERSION
    language: str = "en"
    translated_text: Optional[str] = None
    llm: LLMPart = field(default_factory=LLMPart)
    emotion: Optional[EmotionPart] = None
    bentham: Optional[BenthamPart] = None
    ethics: Optional[Dict[str, float]] = None
    regret: Optional[RegretPart] = None
    surd: Optional[SurdPart] = None
    circuit: Optional[CircuitPart] = None
    extras: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    timings_ms: Dict[str, float] = field(default_factory=dict)
    memory: MemoryPart = field(default_factory=MemoryPart)
    provenance: Provenance = field(default_factory=Provenance)
    notes: List[str] = field(default_factory=list)
    errors: List[StageError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, stage: str, exc: BaseException | str, type_name: str | None = None) -> StageError:
        """Record a stage failure; the message never carries a traceback."""
        if isinstance(exc, BaseException):
            type_name = type_name or error_type(exc)
            message = str(exc) or type(exc).__name__
        else:
            message = exc
        err = StageError(stage=stage, type=type_name or "Error", message=message)
        self.errors.append(err)
        return err

    def set_analyzer_output(self, name: str, output: dict[str, Any]) -> None:
        """Store an analyzer's dict under its field (typed) or under ``extras``."""
        part = ANALYZER_PARTS.get(name)
        if part is None:
            self.extras[name] = output
        elif part is dict:
            setattr(self, name, _convert(Dict[str, float], output, name))
        else:
            setattr(self, name, _from_dict(part, output, name))

    def analyzer_output(self, name: str) -> dict[str, Any] | None:
        """An analyzer's output as a plain dict (what a dependent analyzer reads)."""
        if name in ANALYZER_PARTS:
            value = getattr(self, name)
            if value is None:
                return None
            return dict(value) if isinstance(value, dict) else value.to_dict()
        return self.extras.get(name)


# ------------------------------------------------------------------ pipeline messages


@dataclass
class TaskMessage(Record):
    """A request as the pipeline's observer hooks see it (``submitted_at``: ``time.time()``
    when it was submitted)."""

    request_id: str
    text: str
    priority: int = 0
    submitted_at: float = 0.0
    #: the caller's experience namespace ("" unless the service names one)
    namespace: str = ""
