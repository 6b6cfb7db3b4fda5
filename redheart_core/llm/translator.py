"""``llm``: translation through the configured LLM backend.

A Claude or OpenAI user already has a model that reads Korean; with
``translation.translator: llm`` the same backend translates Korean input into English for the
English-only parts (the encoder and the analyzers), with no model to download. Each text is
one ``complete`` call, all of a micro-batch concurrently, so it goes through the backend's own
retries, limits and key handling.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError, StageFailure
from ..options import OptionError, check_range
from .backend import LLMRequest, Message

if TYPE_CHECKING:
    from ..runtime import Runtime

LANGUAGES = {"ko": "Korean", "en": "English"}

SYSTEM = ("You are a translator. Translate the user's {source} text into {target}. Keep its "
          "meaning, tone and every person, number and detail; add nothing. Reply with the "
          "{target} translation only, no notes and no quotation marks.")


@dataclass
class LLMTranslatorOptions:
    source: str = "ko"  # language code of the texts to translate
    target: str = "en"  # language code to translate into
    max_tokens: int = 2048  # cap on each translation's output tokens
    cache_size: int = 1024  # translations kept in memory by text (0: none)

    def __post_init__(self) -> None:
        for field in ("source", "target"):
            if getattr(self, field) not in LANGUAGES:
                raise OptionError(field, f"unknown language {getattr(self, field)!r} (valid: "
                                  f"{', '.join(sorted(LANGUAGES))})")
        check_range(self, "max_tokens", 1)


class LLMTranslator:
    """Translates with ``runtime.llm``; ``translate_batch`` is a coroutine (an API call, no
    torch work), which the pipeline awaits on its event loop."""

    def __init__(self, options: LLMTranslatorOptions, runtime: "Runtime"):
        backend = runtime.config.llm.backend
        if backend == "none":
            raise ConfigError("translation.translator", "the llm translator translates with the "
                              "configured LLM backend, and llm.backend is 'none' (no language "
                              "model); set llm.backend, or choose another translator")
        self.llm = runtime.llm
        if self.llm.english_only:
            raise ConfigError("translation.translator", f"the llm translator needs a backend that "
                              f"reads {LANGUAGES[options.source]}, and llm.backend {backend!r} is "
                              "marked english_only; choose another translator")
        self.source, self.target = options.source, options.target
        self.max_tokens = int(options.max_tokens)
        self.cache_size = int(options.cache_size)
        self._cache: OrderedDict[str, str] = OrderedDict()
        self.system = SYSTEM.format(source=LANGUAGES[self.source], target=LANGUAGES[self.target])

    async def translate_batch(self, texts: list[str]) -> list[str]:
        return list(await asyncio.gather(*(self.translate(text) for text in texts)))

    async def translate(self, text: str) -> str:
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        response = await self.llm.complete(LLMRequest(
            system=self.system, messages=[Message("user", text)], max_tokens=self.max_tokens,
            temperature=0.0))
        translated = response.text.strip()
        if not translated:
            raise StageFailure(f"the {self.llm.name} backend returned an empty translation",
                               "TranslationError")
        if self.cache_size:
            self._cache[text] = translated
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return translated


def build(options: LLMTranslatorOptions, runtime: "Runtime") -> LLMTranslator:
    return LLMTranslator(options, runtime)
