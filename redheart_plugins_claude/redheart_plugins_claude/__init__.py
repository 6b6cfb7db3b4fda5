"""redheart-plugins-claude: the ``claude`` LLM backend (Anthropic Messages API).

Registration only; the SDK is imported when the backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from redheart_core import hookimpl


@dataclass
class ClaudeOptions:
    model: str = "claude-sonnet-5-5"
    #: caps the tokens of each call; None: the reading's own budget (2048 reading, 1024 summary)
    max_tokens: Optional[int] = None
    #: None: not sent (the model's default); set: sent as the request's temperature
    temperature: Optional[float] = None
    timeout_s: float = 60.0
    #: the SDK's own retries on 408/409/429/5xx, honouring retry-after
    max_retries: int = 2
    base_url: Optional[str] = None
    #: default: the ANTHROPIC_API_KEY environment variable
    api_key: Optional[str] = None
    #: calls in flight at once from this process
    max_concurrency: int = 8


def _factory(options: ClaudeOptions):
    from .backend import ClaudeBackend

    return ClaudeBackend(options)


@hookimpl
def redheart_register_llm_backends(register):
    register("claude", _factory, options=ClaudeOptions,
             description="Anthropic Claude through the Messages API (structured output by a forced tool call)")
