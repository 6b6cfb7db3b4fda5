"""Structured logging for the pipeline and the service: text or JSON lines, secrets redacted.

``configure_logging(cfg.logging)`` installs one handler on the ``redheart`` logger. With
``format: json`` each record is one JSON object per line with the fields ``event``,
``request_id``, ``stage``, ``duration_ms`` and ``error`` where the record has them. A filter on
the handler replaces secrets — values of config keys named like ``*key*``/``*token*``/
``*secret*``/``*password*``, such environment variables, and anything shaped like an API key or
a bearer token — with ``***`` before a record is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, Iterable, TextIO

from .config import REDACTED, is_secret_key

LOGGER_NAME = "redheart"
#: the structured fields a record may carry (``extra=``), in the order they are written
FIELDS = ("event", "request_id", "stage", "duration_ms", "status", "error")
#: secrets shorter than this are not redacted by value (they would match ordinary words)
MIN_SECRET_LENGTH = 6

_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI / Anthropic style API keys
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?i)(?<=x-api-key: )\S+"),
    re.compile(r"(?i)(?<=api_key=)[^\s&'\",]+"),
)

_known_secrets: set[str] = set()


def register_secrets(values: Any) -> None:
    """Remember secret values to redact: plain strings, or a config whose secret-named keys
    (``llm.options.api_key`` ...) hold them."""
    if isinstance(values, str):
        if len(values) >= MIN_SECRET_LENGTH:
            _known_secrets.add(values)
        return
    if isinstance(values, Iterable) and not hasattr(values, "items"):
        for value in values:
            register_secrets(value)
        return
    for key, value in _secret_items(values):
        register_secrets(value)


def _secret_items(cfg: Any) -> Iterable[tuple[str, str]]:
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
            for key, value in node.items():
                inside = secret or is_secret_key(str(key))
                if isinstance(value, str) and inside:
                    yield str(key), value
                elif isinstance(value, (dict, list)):
                    stack.append((value, inside))
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, str) and secret:
                    yield "", value
                elif isinstance(value, (dict, list)):
                    stack.append((value, secret))


def environment_secrets() -> set[str]:
    """Values of environment variables named like secrets (``*KEY*``, ``*TOKEN*`` ...)."""
    return {v for k, v in os.environ.items() if is_secret_key(k) and len(v) >= MIN_SECRET_LENGTH}


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and key-shaped strings replaced by ``***``."""
    for secret in sorted({*secrets, *_known_secrets}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for shape in _SHAPES:
        text = shape.sub(REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Redact the message, the structured fields and the traceback of every record."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} | environment_secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage(), self.secrets)
        record.args = None
        for name in FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact_text(value, self.secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message`` followed by the structured fields as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{name}={getattr(record, name)}" for name in FIELDS
                  if name != "event" and getattr(record, name, None) is not None]
        if not fields:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head} [{' '.join(fields)}]{sep}{tail}"


def configure_logging(cfg: Any = None, *, stream: TextIO | None = None,
                      secrets: Iterable[str] = (), level: str | None = None) -> logging.Handler:
    """Send ``redheart.*`` records to ``stream`` (stderr) in the configured format and level.

    ``cfg`` is the ``logging`` section of the config (``level``, ``format``); calling again
    replaces the handler installed before, so it is safe in tests and in reloads. ``level``
    overrides ``cfg.level`` (the CLI's ``-v`` / ``-q``).
    """
    level = (level or str(getattr(cfg, "level", "INFO"))).upper()
    fmt = getattr(cfg, "format", "text")
    fmt = getattr(fmt, "value", fmt)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name("redheart")
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactSecrets(secrets))
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if h.get_name() == "redheart"]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
