"""The hooks a redheart plugin may implement.

Registration hooks receive a ``register`` callback instead of returning lists (as simonw/llm
does): the core then knows which plugin registered which name and can report clashes, and a
plugin can register any number of things without building containers.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "redheart"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def redheart_register_llm_backends(register):
    """Register LLM backends: ``register(name, factory, options=OptionsDataclass, description=...)``.

    ``factory(options)`` returns a :class:`redheart_core.llm.LLMBackend`.
    """


@hookspec
def redheart_register_analyzers(register):
    """Register analyzers: ``register(name, factory, options=..., description=..., requires=(...))``.

    ``requires`` names the analyzers whose output this one reads; they run first.
    """


@hookspec
def redheart_register_memory_strategies(register):
    """Register memory strategies: ``register(name, factory, options=..., description=...)``."""


@hookspec
def redheart_register_translators(register):
    """Register translators: ``register(name, factory, options=..., description=...)``."""


@hookspec
def redheart_request_started(request):
    """Observe a request entering the pipeline (a :class:`redheart_core.schema.TaskMessage`)."""


@hookspec
def redheart_stage_finished(request, stage, seconds, error):
    """Observe one stage of one request ending; ``error`` is a StageError or None."""


@hookspec
def redheart_request_finished(result):
    """Observe the final :class:`redheart_core.schema.AnalysisResult` of a request."""
