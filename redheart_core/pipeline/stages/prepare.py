"""The first stage: validate the text, detect its language, translate it when a consumer
needs English."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Callable

from ...errors import StageFailure, error_type
from ...phases import Stage
from ...translation import Translator
from ..batching import MicroBatcher
from ..caveats import unread_note
from .handler import StageHandler

if TYPE_CHECKING:
    from ...memory.manager import UnifiedMemoryManager
    from ..context import RequestContext
    from ..workers import DeviceWorkers

#: a text whose letters are at least this share Hangul is Korean
HANGUL_RATIO_KO = 0.3


_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
_LETTER = re.compile(r"[^\W\d_]")


def detect_language(text: str) -> str:
    """``"ko"`` when Hangul makes up at least 30 % of the letters, else ``"en"``."""
    letters = len(_LETTER.findall(text))
    return "ko" if letters and len(_HANGUL.findall(text)) / letters >= HANGUL_RATIO_KO else "en"


def has_text(text: object) -> bool:
    """Whether ``text`` is something to analyze: a string that is not blank."""
    return isinstance(text, str) and bool(text.strip())


class PrepareStage(StageHandler):
    """Validate, detect the language, translate when a consumer needs English.

    Translation runs micro-batched on the device worker; each batch holds the ``llm`` memory
    phase (the next stage's), so a local model set-up does not swap twice.
    """

    name = Stage.PREPARE

    def __init__(self, *, translator: Translator | None, when: str, llm_english_only: bool,
                 embedder_english_only: bool, memory: "UnifiedMemoryManager", workers: "DeviceWorkers",
                 batch_size: int, wait_s: float, could_join: Callable[[], int] = lambda: 1,
                 embedder_model: str = "the embedder"):
        self.translator = translator
        self.when = when
        self.llm_english_only = llm_english_only
        self.embedder_english_only = embedder_english_only
        self.embedder_model = embedder_model
        self.memory = memory
        self.workers = workers
        self.batcher: MicroBatcher[str, str] | None = None
        if translator is not None and when != "never":
            self.batcher = MicroBatcher(self._translate_batch, batch_size=batch_size,
                                        wait_s=wait_s, could_join=could_join)

    async def _translate_batch(self, texts: list[str]) -> list[str]:
        async with self.memory.phase(Stage.PREPARE.phase):
            if inspect.iscoroutinefunction(self.translator.translate_batch):  # an API call
                translated = await self.translator.translate_batch(texts)
            else:  # torch work: on the device worker, under out-of-memory recovery
                translated = await self.workers.run(self.memory.run_recovering,
                                                    self.translator.translate_batch, texts,
                                                    self.translator)
        if len(translated) != len(texts):
            raise StageFailure(f"the translator returned {len(translated)} texts for {len(texts)}",
                               "TranslationError")
        return list(translated)

    def _wants_translation(self, language: str) -> bool:
        if self.batcher is None or self.translator is None or language != self.translator.source:
            return False
        return self.when == "always" or (
            self.when == "auto" and (self.llm_english_only or self.embedder_english_only))

    def reads_as_is(self, text: str) -> bool:
        """Whether ``text`` goes on as submitted: it is valid and will not be translated (the
        encoder then reads exactly it, so it can be encoded ahead)."""
        return has_text(text) and not self._wants_translation(detect_language(text))

    async def run(self, ctx: "RequestContext", text: str) -> None:
        result = ctx.result
        if not has_text(text):
            ctx.stop = True
            raise StageFailure("the text to analyze is empty; give a situation to analyze",
                               "InvalidInput")
        result.language = detect_language(text)
        if self._wants_translation(result.language):
            ctx.batching = self.name
            try:
                result.translated_text = await self.batcher.submit(text)
            except Exception as exc:
                result.add_error(self.name, f"translation failed, going on with the original "
                                 f"text: {exc}", error_type(exc))
            finally:
                ctx.batching = None
        if result.language == "ko" and result.translated_text is None:
            if self.llm_english_only:
                result.notes.append("the LLM backend reads English only and the Korean text was "
                                    "not translated (set translation.translator)")
            if self.embedder_english_only:
                ctx.unread_by_encoder = True
                result.notes.append(unread_note(self.embedder_model))

    async def aclose(self) -> None:
        if self.batcher is not None:
            await self.batcher.aclose()
