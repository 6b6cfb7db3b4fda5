"""The ``marian`` translator: MarianMT (e.g. Helsinki-NLP/opus-mt-ko-en) from a local path.

Loaded on the first text that needs it (an API backend reads Korean itself, so with one the
model is never loaded); translations are cached by text, so a repeated situation is free.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterator

from redheart_core.model.encoder import quiet_loading

from .loading import module_device, register_modules, resolve_device, resolve_model_path

if TYPE_CHECKING:
    from redheart_core.runtime import Runtime

    from . import MarianOptions

MEMORY_NAME = "translator.marian"


class MarianTranslator:
    """``translate_batch(texts)`` from ``source`` to ``target``; thread-safe."""

    def __init__(self, options: "MarianOptions", runtime: "Runtime | None" = None):
        self.options = options
        self.runtime = runtime
        self.source, self.target = options.source, options.target
        self.path = resolve_model_path(options.model_path, "translation.options.model_path")
        self.device = resolve_device(options.device, runtime, "translation.options.device")
        self._tokenizer: Any = None
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, str] = OrderedDict()
        self.cache_hits = 0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def modules(self) -> dict[str, Any]:
        return {MEMORY_NAME: self._model} if self._model is not None else {}

    def memory_footprint(self) -> Iterator[Any]:
        """The model's size for ``redheart memory plan``, from its config alone (no weights)."""
        from redheart_core.memory import ModuleFootprint, pretrained_bytes

        yield ModuleFootprint(MEMORY_NAME, pretrained_bytes(self.path, auto_class="AutoModelForSeq2SeqLM"),
                              frozenset({"llm"}))

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import MarianMTModel, MarianTokenizer

            with quiet_loading():
                tokenizer = MarianTokenizer.from_pretrained(self.path, local_files_only=True)
                model = MarianMTModel.from_pretrained(self.path, local_files_only=True)
            model.to(self.device).eval()
            # the pipeline translates inside the ``llm`` phase, ahead of the first LLM call
            self._model = register_modules(self.runtime, {MEMORY_NAME: model}, {"llm"})[MEMORY_NAME]
            self._tokenizer = tokenizer
        return self._tokenizer, self._model

    def translate_batch(self, texts: list[str]) -> list[str]:
        with self._lock:
            done: dict[str, str] = {}
            for text in texts:
                if text in self._cache:
                    done[text] = self._cache[text]
                    self._cache.move_to_end(text)
                    self.cache_hits += 1
            missing = [t for t in dict.fromkeys(texts) if t not in done]
            for start in range(0, len(missing), self.options.batch_size):
                chunk = missing[start:start + self.options.batch_size]
                for text, translation in zip(chunk, self._translate(chunk)):
                    done[text] = translation
                    self._remember(text, translation)
            return [done[t] for t in texts]

    def _translate(self, texts: list[str]) -> list[str]:
        import torch

        tokenizer, model = self._load()
        inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                           max_length=self.options.max_length).to(module_device(model))
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=self.options.max_length)
        return [t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)]

    def _remember(self, text: str, translation: str) -> None:
        if self.options.cache_size == 0:
            return
        self._cache[text] = translation
        while len(self._cache) > self.options.cache_size:
            self._cache.popitem(last=False)
