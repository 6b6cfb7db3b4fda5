"""What a backend is sent and what it returns: the transport-neutral request and reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Message:
    role: str  # "user" | "assistant"
    content: str


@dataclass
class LLMRequest:
    system: str
    messages: list[Message]
    max_tokens: int = 1024
    temperature: float = 0.0
    #: the reply's JSON schema, kept to what vendors' strict modes accept (tool input,
    #: ``response_format``)
    json_schema: Optional[dict[str, Any]] = None
    schema_name: str = "initial_reading"
    #: the same schema with the bounds a grammar engine can enforce token by token (value
    #: ranges, lengths, item order); a backend that constrains decoding itself uses this one
    bounded_schema: Optional[dict[str, Any]] = None


@dataclass
class LLMResponse:
    """What a backend returns. ``data`` holds structured output when the transport gives it
    directly (a tool call's input); otherwise the JSON is parsed from ``text``."""

    text: str
    model: Optional[str] = None
    usage: Optional[dict[str, int]] = None
    data: Optional[dict[str, Any]] = None
    retries: int = 0
