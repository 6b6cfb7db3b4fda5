"""The translator contract: what a ``redheart_register_translators`` plugin returns.

The pipeline's prepare stage calls a translator only when a consumer reads English only (an
English-only LLM, or ``translation.when: always``) and the text is in the translator's source
language; a translator therefore loads its model on first use, so a run that never needs it
never pays for it. A synchronous ``translate_batch`` is torch work: it is called on a worker
thread, with a micro-batch of texts. A translator that calls an API (the built-in ``llm``)
defines ``async def translate_batch`` instead, which the pipeline awaits on its event loop.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Translator(Protocol):
    #: language codes, e.g. "ko" -> "en"
    source: str
    target: str

    def translate_batch(self, texts: list[str]) -> list[str]:
        """The translations of ``texts``, in order, one per text."""
        ...

