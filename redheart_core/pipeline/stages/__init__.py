"""Stage handlers: the contract, the routing table, and the built-in stages."""

from .analyzers import AnalyzerStage
from .handler import StageHandler
from .llm import LLMFinalStage, LLMInitialStage, reading_replies_of
from .prepare import PrepareStage, detect_language
from .router import Router

__all__ = ["AnalyzerStage", "LLMFinalStage", "LLMInitialStage", "PrepareStage", "Router",
           "StageHandler", "detect_language", "reading_replies_of"]
