"""redheart-plugins-local: the ``local`` LLM backend (a transformers causal LM on this machine)
and the ``marian`` translator (MarianMT, e.g. opus-mt-ko-en).

Registration only; torch and transformers are imported when a backend or translator is built.
Models load from a local directory, the local hub cache, a GGUF file or a named offline model
shipped by an installed package, never from the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from redheart_core import hookimpl
from redheart_core.options import check_range

if TYPE_CHECKING:
    from redheart_core.runtime import Runtime

    from .backend import LocalBackend
    from .marian import MarianTranslator


@dataclass
class LocalOptions:
    #: required: a model directory, a hub id already in the local cache, a .gguf file, or a
    #: named offline model shipped by an installed package (smollm2)
    model_path: Optional[str] = None
    #: a GGUF file name inside the model_path directory
    gguf_file: Optional[str] = None
    #: where GGUF models are kept once converted; None: $REDHEART_CACHE_DIR, else
    #: $XDG_CACHE_HOME/redheart, else ~/.cache/redheart
    cache_dir: Optional[str] = None
    #: decode structured requests (the initial reading) under their JSON schema
    constrained: bool = True
    max_new_tokens: int = 512
    #: auto | float32 | float16 | bfloat16
    dtype: str = "auto"
    #: auto (the memory manager's device, else cuda when available, else cpu) | cpu | cuda | cuda:N
    device: str = "auto"
    #: greedy decoding unless set
    do_sample: bool = False
    temperature: float = 0.7
    #: the model reads only English: Korean input is translated first (translation.translator)
    english_only: bool = False

    def __post_init__(self) -> None:
        check_range(self, "max_new_tokens", 1)


@dataclass
class MarianOptions:
    #: required: a local MarianMT directory (e.g. a saved Helsinki-NLP/opus-mt-ko-en) or a
    #: cached hub id
    model_path: Optional[str] = None
    source: str = "ko"
    target: str = "en"
    device: str = "auto"
    batch_size: int = 8
    max_length: int = 512
    #: translations kept in memory, by text
    cache_size: int = 1024

    def __post_init__(self) -> None:
        check_range(self, "batch_size", 1)
        check_range(self, "max_length", 1)
        check_range(self, "cache_size", 0)


def _local_factory(options: LocalOptions, runtime: "Runtime | None" = None) -> "LocalBackend":
    from .backend import LocalBackend

    return LocalBackend(options, runtime=runtime)


def _marian_factory(options: MarianOptions, runtime: "Runtime | None" = None) -> "MarianTranslator":
    from .marian import MarianTranslator

    return MarianTranslator(options, runtime=runtime)


@hookimpl
def redheart_register_llm_backends(register):
    register("local", _local_factory, options=LocalOptions,
             description="a transformers causal LM run on this machine (chat template, greedy, "
                         "schema-constrained reading)")


@hookimpl
def redheart_register_translators(register):
    register("marian", _marian_factory, options=MarianOptions,
             description="MarianMT translation (e.g. opus-mt-ko-en) from a local path")
