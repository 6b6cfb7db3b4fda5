"""The built-in LLM plugin: the offline ``none`` backend and the ``llm`` translator (which
translates through whichever backend is configured), registered through the public hooks."""

from __future__ import annotations

from ..hookspecs import hookimpl


def _none_factory(options):
    from .none_backend import build

    return build(options)


def _options():
    from .none_backend import NoneOptions

    return NoneOptions


@hookimpl
def redheart_register_llm_backends(register):
    register("none", _none_factory, options=_options(),
             description="offline: a deterministic reading from word cues and a templated summary")


def _llm_translator(options, runtime):
    from .translator import build

    return build(options, runtime)


def _translator_options():
    from .translator import LLMTranslatorOptions

    return LLMTranslatorOptions


@hookimpl
def redheart_register_translators(register):
    register("llm", _llm_translator, options=_translator_options(),
             description="Korean to English through the configured LLM backend (Claude, OpenAI, ...)")
