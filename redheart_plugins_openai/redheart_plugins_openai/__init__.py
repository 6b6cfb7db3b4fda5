"""redheart-plugins-openai: the ``openai`` LLM backend, for OpenAI and any OpenAI-compatible
server (vLLM, llama.cpp server, Ollama) through ``base_url``.

Registration only; the SDK is imported when the backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from redheart_core import hookimpl


@dataclass
class OpenAIOptions:
    model: str = "gpt-4o-mini"
    #: caps the tokens of each call; None: the reading's own budget (2048 reading, 1024 summary)
    max_tokens: Optional[int] = None
    #: None: the reading's own temperature (0.0)
    temperature: Optional[float] = None
    timeout_s: float = 60.0
    #: the SDK's own retries on 408/409/429/5xx, honouring retry-after
    max_retries: int = 2
    #: an OpenAI-compatible server, e.g. http://localhost:8000/v1 (vLLM)
    base_url: Optional[str] = None
    #: default: the OPENAI_API_KEY environment variable
    api_key: Optional[str] = None
    organization: Optional[str] = None
    #: calls in flight at once from this process
    max_concurrency: int = 8
    #: auto: json_schema, falling back to json_object and then to the prompt alone when the
    #: server answers 400; or pin one of json_schema | json_object | prompt
    structured_output: str = "auto"


def _factory(options: OpenAIOptions):
    from .backend import OpenAIBackend

    return OpenAIBackend(options)


@hookimpl
def redheart_register_llm_backends(register):
    register("openai", _factory, options=OpenAIOptions,
             description="OpenAI Chat Completions, or any OpenAI-compatible server by base_url")
