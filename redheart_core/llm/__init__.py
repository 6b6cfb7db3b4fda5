"""LLM backends: the contract, the reading functions built on it, and the offline backend."""

from .backend import LLMBackend, LLMRequest, LLMResponse, Message
from .errors import LLMOutputError, LLMRequestError

__all__ = ["LLMBackend", "LLMRequest", "LLMResponse", "Message", "LLMOutputError", "LLMRequestError"]
