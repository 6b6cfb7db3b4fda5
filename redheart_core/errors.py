"""Exception types users and plugin authors can catch.

Each error says what was wrong, where, and what to do; the CLI prints the message alone
(exit 2 for :class:`ConfigError`) and shows a traceback only with ``--debug``.
"""

from __future__ import annotations

from typing import Iterable


class RedheartError(Exception):
    """Base class for every error redheart raises on purpose."""

    #: the ``type`` a result's error records it under; empty: the class name
    type_name: str = ""
    #: whether a retryable stage may run again after it (False: retrying cannot help)
    retryable: bool = True


def error_type(exc: BaseException) -> str:
    """The ``type`` an error is recorded under: a :class:`RedheartError`'s ``type_name``, or
    else its class name."""
    if isinstance(exc, RedheartError) and exc.type_name:
        return exc.type_name
    return type(exc).__name__


class ConfigError(RedheartError):
    """A configuration value is missing, unknown or of the wrong type.

    ``key`` is the full dotted path (``llm.options.max_tokens``); ``choices`` the valid names
    where there is a closed set.
    """

    retryable = False

    def __init__(self, key: str, message: str, choices: Iterable[str] | None = None):
        self.key = key
        self.choices = sorted(choices) if choices is not None else None
        text = f"{key}: {message}" if key else message
        if self.choices is not None:
            text += f" (valid: {', '.join(self.choices) if self.choices else 'nothing is registered'})"
        super().__init__(text)


class PluginError(RedheartError):
    """A plugin could not be loaded or registered something invalid."""


class StageFailure(RedheartError):
    """Raised inside a stage to record an error of a given ``type`` in the result."""

    type_name = "StageFailure"

    def __init__(self, message: str, type_name: str | None = None):
        super().__init__(message)
        if type_name:
            self.type_name = type_name
