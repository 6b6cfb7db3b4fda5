"""Errors an LLM stage records in a result.

Both are :class:`~redheart_core.errors.StageFailure` subclasses, so the pipeline stores them as
``{stage, type, message}`` without a traceback. Messages name the backend and what went wrong,
never a request header or an API key. Neither is ``retryable``: the repair re-ask and the
SDKs' own HTTP retries have already run, so the pipeline must not stack another loop on top.
"""

from __future__ import annotations

from ..errors import StageFailure


class LLMOutputError(StageFailure):
    """The model answered, but not with a usable reading or summary (after one repair re-ask)."""

    type_name = "LLMOutputError"
    retryable = False


class LLMRequestError(StageFailure):
    """The backend could not get an answer: HTTP errors after the SDK's retries, timeouts,
    refused connections, a local model that failed to run."""

    type_name = "LLMRequestError"
    retryable = False
