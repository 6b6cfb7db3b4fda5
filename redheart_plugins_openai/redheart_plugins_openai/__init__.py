"""redheart-plugins-openai: the ``openai`` LLM backend, for OpenAI and any OpenAI-compatible
server (vLLM, llama.cpp server, Ollama) through ``base_url``.

Registration only; the SDK is imported when the backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from redheart_core import hookimpl
from redheart_core.llm.remote import RemoteOptions


@dataclass
class OpenAIOptions(RemoteOptions):
    """``temperature`` None: the reading's own (0.0). ``base_url``: an OpenAI-compatible
    server, e.g. http://localhost:8000/v1 (vLLM)."""

    model: str = "gpt-4o-mini"
    organization: Optional[str] = None
    #: auto: json_schema, falling back to json_object_schema, json_object and then the prompt
    #: alone when the server rejects one (400 or 422); or pin one of json_schema |
    #: json_object_schema | json_object | prompt
    structured_output: str = "auto"


def _factory(options: OpenAIOptions):
    from .backend import OpenAIBackend

    return OpenAIBackend(options)


@hookimpl
def redheart_register_llm_backends(register):
    register("openai", _factory, options=OpenAIOptions,
             description="OpenAI Chat Completions, or any OpenAI-compatible server by base_url")
