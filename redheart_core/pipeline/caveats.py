"""What the pipeline owns up to about a reading it cannot vouch for.

Korean text that reaches an English-only encoder untranslated is embedded as if it were noise:
the analyzers still produce numbers, and without a caveat they look as sure as for English
text. The pipeline therefore scales every confidence of such a result by
:data:`UNREAD_CONFIDENCE_SCALE` once the analyzers are done (so the analyzers themselves compute
on the same inputs as always, and the LLM's summary already sees the lowered figures), and
says why in ``result.notes``.
"""

from __future__ import annotations

from ..schema import AnalysisResult

#: every confidence of a result whose text the encoder could not read is multiplied by this
UNREAD_CONFIDENCE_SCALE = 0.2

UNREAD_KOREAN_NOTE = (
    "low confidence: this Korean text was analyzed untranslated by an English-only encoder "
    f"({{model}}), so the scores do not reflect what it says; every confidence was scaled by "
    f"{UNREAD_CONFIDENCE_SCALE:g}. Set translation.translator=llm to translate through the "
    "configured LLM backend, another translator, or a multilingual embedding.model "
    "(see docs/llm-backends.md)")


def unread_note(model: str) -> str:
    return UNREAD_KOREAN_NOTE.format(model=model)


def lower_confidences(result: AnalysisResult, scale: float = UNREAD_CONFIDENCE_SCALE) -> None:
    """Multiply each confidence in ``result`` (the built-in parts and any plugin output's
    top-level ``confidence``) by ``scale``."""
    if result.emotion is not None:
        result.emotion.confidence *= scale
        for level in result.emotion.levels.values():
            level.confidence *= scale
    for part in (result.bentham, result.regret, result.circuit):
        if part is not None:
            part.confidence *= scale
    for output in result.extras.values():
        value = output.get("confidence")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            output["confidence"] = value * scale
