"""The ``urgency`` analyzer: how much time pressure a situation is described with.

Pressure is counted from phrases that set a time horizon ("right now", "by tomorrow", "마감"),
exclamation marks and shouted words; the score squashes it into 0..1 with a half-saturation
constant, so one "today" is mild and "URGENT, right now!!" is high. The nearest horizon any
phrase sets is reported in hours, which a decision analysis can weigh against the Bentham
"propinquity" dimension.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from redheart_core.errors import ConfigError

from .options import UrgencyOptions

#: phrase -> the time horizon it sets, in hours (English and Korean)
HORIZONS: dict[str, float] = {
    "right now": 0, "immediately": 0, "at once": 0, "asap": 0, "emergency": 0, "now": 0.5,
    "urgent": 1, "urgently": 1, "tonight": 6, "this morning": 6, "this evening": 6,
    "today": 12, "tomorrow": 24, "deadline": 24, "due": 24, "before it's too late": 24,
    "soon": 72, "this week": 168, "next week": 336,
    "지금": 0, "당장": 0, "즉시": 0, "긴급": 1, "오늘": 12, "내일": 24, "마감": 24, "이번 주": 168,
}
#: phrases with no horizon of their own that still add pressure
DEFAULT_EXTRA_WEIGHT = 1.0
IMMEDIATE_WEIGHT = 1.5
EXCLAMATION_WEIGHT = 0.5
SHOUT_WEIGHT = 0.5
SENTENCE_END = re.compile(r"[.!?。！？]+")
SHOUTED = re.compile(r"\b[A-Z]{3,}\b")


def _pattern(phrase: str) -> re.Pattern[str]:
    """Whole words for Latin phrases; plain substrings for Hangul (no spaces between morphemes)."""
    if phrase.isascii():
        return re.compile(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", re.IGNORECASE)
    return re.compile(re.escape(phrase))


class UrgencyAnalyzer:
    """Scores each item's time pressure in 0..1; reads nothing but the text."""

    name = "urgency"
    requires: tuple[str, ...] = ()

    def __init__(self, options: UrgencyOptions):
        if options.half_point <= 0:
            raise ConfigError("analyzer_options.urgency.half_point",
                              f"must be positive, got {options.half_point}")
        if not 0 < options.high_threshold <= 1:
            raise ConfigError("analyzer_options.urgency.high_threshold",
                              f"must be in (0, 1], got {options.high_threshold}")
        self.half_point = float(options.half_point)
        self.high_threshold = float(options.high_threshold)
        phrases: dict[str, float | None] = dict(HORIZONS)
        for marker in options.extra_markers:
            if marker.strip():
                phrases.setdefault(marker.strip().lower(), None)
        # longest first, so "right now" is counted once, not also as "now"
        self._patterns = [(p, h, _pattern(p)) for p, h in
                          sorted(phrases.items(), key=lambda kv: -len(kv[0]))]

    def analyze_batch(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        return [self.analyze_text(item.text) for item in items]

    def analyze_text(self, text: str) -> dict[str, Any]:
        pressure = 0.0
        horizon: float | None = None
        found: list[str] = []
        remaining = text
        for phrase, hours, pattern in self._patterns:
            hits = len(pattern.findall(remaining))
            if not hits:
                continue
            remaining = pattern.sub(" ", remaining)
            found.append(phrase)
            weight = DEFAULT_EXTRA_WEIGHT if hours is None else (IMMEDIATE_WEIGHT if hours == 0 else 1.0)
            pressure += hits * weight
            if hours is not None:
                horizon = hours if horizon is None else min(horizon, hours)
        exclamations = text.count("!") + text.count("！")
        shouted = len(SHOUTED.findall(text))
        pressure += EXCLAMATION_WEIGHT * exclamations + SHOUT_WEIGHT * shouted
        score = pressure / (pressure + self.half_point)
        sentences = max(1, len([s for s in SENTENCE_END.split(text) if s.strip()]))
        return {
            "score": round(score, 4),
            "level": self.level(score),
            "horizon_hours": horizon,
            "markers": sorted(found)[:20],
            "pressure": round(pressure, 3),
            "sentences": sentences,
        }

    def level(self, score: float) -> str:
        if score >= self.high_threshold:
            return "high"
        return "medium" if score >= self.high_threshold / 2 else "low"
