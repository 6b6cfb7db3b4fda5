"""Secrets: which values are secret, and the one scrubber that keeps them out of everything shown.

A secret is the value of a config key or environment variable named like ``*key*``,
``*token*``, ``*secret*`` or ``*password*``, a value registered with :func:`register_secrets`
(a pipeline registers its config's; an API backend its key), or anything shaped like an API key
or a bearer token. One rule decides what is scrubbed by value: at least
:data:`MIN_SECRET_LENGTH` characters, so that placeholders for servers that need no key
("none", "ollama") are not scrubbed out of every message that happens to contain the word.

Logs, results, error messages and the CLI all go through :func:`redact_text`; records of the
SDK and HTTP loggers are scrubbed only while a call that may log a key is in flight
(:func:`guarding_sdk_logs`), so nothing stays installed on another library's loggers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from typing import Any, Iterable, Iterator

REDACTED = "***"
#: shortest value scrubbed by value: shorter "secrets" are placeholders or ordinary words
MIN_SECRET_LENGTH = 8
#: the structured fields a log record may carry (``extra=``); scrubbed like the message
RECORD_FIELDS = ("event", "request_id", "stage", "duration_ms", "status", "error")
#: logger families that may see request data: the SDKs' (they log request options and
#: response headers at DEBUG) and the HTTP stacks under them
SDK_LOGGER_ROOTS = ("anthropic", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "h11")

_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)
_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI / Anthropic style API keys
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?i)(?<=x-api-key: )\S+"),
    re.compile(r"(?i)(?<=api_key=)[^\s&'\",]+"),
)

_known_secrets: set[str] = set()


def is_secret_key(name: str) -> bool:
    """Whether a config key or environment variable named ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def register_secrets(values: Any) -> None:
    """Remember secret values to scrub: a string, strings, or a config (or plain mapping) whose
    secret-named keys (``llm.options.api_key`` ...) hold them."""
    if isinstance(values, str):
        if len(values) >= MIN_SECRET_LENGTH:
            _known_secrets.add(values)
        return
    if isinstance(values, Iterable) and not hasattr(values, "items"):
        for value in values:
            register_secrets(value)
        return
    for value in _secret_values(values):
        register_secrets(value)


def _secret_values(cfg: Any) -> Iterator[str]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        try:
            cfg = OmegaConf.to_container(cfg, resolve=True)
        except Exception:  # an unresolvable ${oc.env:...}: nothing secret was read from it
            cfg = OmegaConf.to_container(cfg, resolve=False)
    stack: list[tuple[Any, bool]] = [(cfg, False)]
    while stack:
        node, secret = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = [(None, v) for v in node]
        else:
            continue
        for key, value in items:
            inside = secret or (key is not None and is_secret_key(str(key)))
            if isinstance(value, str) and inside:
                yield value
            elif isinstance(value, (dict, list)):
                stack.append((value, inside))


def environment_secrets() -> set[str]:
    """Values of environment variables named like secrets (``*KEY*``, ``*TOKEN*`` ...)."""
    return {v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= MIN_SECRET_LENGTH}


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets``, registered secrets and key-shaped strings replaced by ``***``."""
    for secret in sorted({*(s for s in secrets if len(s) >= MIN_SECRET_LENGTH), *_known_secrets},
                         key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def redact(value: Any) -> Any:
    """A copy of plain data with string values under secret-looking keys replaced by ``***``
    (every string inside such a key too: ``server.api_keys: {ops: ***}``)."""
    if isinstance(value, dict):
        return {k: (_redact_all(v) if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_all(value: Any) -> Any:
    if isinstance(value, str):
        return REDACTED if value else value
    if isinstance(value, dict):
        return {k: _redact_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_all(v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Scrub the message, the structured fields and the traceback of every record."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = set(secrets) | environment_secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = redact_text(message, self.secrets)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        for name in RECORD_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact_text(value, self.secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        return True


class _SdkLogGuard:
    """One :class:`RedactSecrets` on every SDK and HTTP logger while at least one guarded call
    is in flight; the last call out takes it off again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._installed: list[logging.Logger] = []
        self._filter: RedactSecrets | None = None

    def enter(self) -> None:
        with self._lock:
            self._calls += 1
            if self._calls > 1:
                return
            self._filter = RedactSecrets()
            # a logger's filters see only its own records, so each SDK logger gets the filter
            names = {name for name in logging.root.manager.loggerDict
                     if name.split(".")[0] in SDK_LOGGER_ROOTS} | set(SDK_LOGGER_ROOTS)
            self._installed = [logging.getLogger(name) for name in sorted(names)]
            for logger in self._installed:
                logger.addFilter(self._filter)

    def exit(self) -> None:
        with self._lock:
            self._calls -= 1
            if self._calls:
                return
            for logger in self._installed:
                logger.removeFilter(self._filter)
            self._installed, self._filter = [], None


_SDK_LOG_GUARD = _SdkLogGuard()


@contextlib.contextmanager
def guarding_sdk_logs() -> Iterator[None]:
    """Scrub secrets from the SDK and HTTP loggers' records for the duration of the block (an
    API call, its retries and its stream); nothing is left on those loggers afterwards."""
    _SDK_LOG_GUARD.enter()
    try:
        yield
    finally:
        _SDK_LOG_GUARD.exit()
