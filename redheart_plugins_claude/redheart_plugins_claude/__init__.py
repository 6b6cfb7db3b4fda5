"""redheart-plugins-claude: the ``claude`` LLM backend (Anthropic Messages API).

Registration only; the SDK is imported when the backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from redheart_core import hookimpl
from redheart_core.llm.remote import RemoteOptions


@dataclass
class ClaudeOptions(RemoteOptions):
    """``temperature``: not sent unless set (the SDK has no such argument any more); when set
    it goes in the request body for models and gateways that take it."""

    model: str = "claude-sonnet-5-5"


def _factory(options: ClaudeOptions):
    from .backend import ClaudeBackend

    return ClaudeBackend(options)


@hookimpl
def redheart_register_llm_backends(register):
    register("claude", _factory, options=ClaudeOptions,
             description="Anthropic Claude through the Messages API (structured output by a forced tool call)")
