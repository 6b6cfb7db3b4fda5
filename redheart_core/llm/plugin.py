"""The built-in LLM plugin: registers the offline ``none`` backend through the public hook."""

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
