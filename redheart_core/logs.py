"""Structured logging for the pipeline and the service: text or JSON lines, secrets redacted.

``configure_logging(cfg.logging)`` installs one handler on the ``redheart`` logger. With
``format: json`` each record is one JSON object per line with the fields ``event``,
``request_id``, ``stage``, ``duration_ms`` and ``error`` where the record has them. A filter on
the handler scrubs secrets (:mod:`redheart_core.secrets`) before a record is written.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, TextIO

from .secrets import RECORD_FIELDS, RedactSecrets

if TYPE_CHECKING:
    from .config import LoggingConfig  # the logging section of a loaded config

LOGGER_NAME = "redheart"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in RECORD_FIELDS:
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
        fields = [f"{name}={getattr(record, name)}" for name in RECORD_FIELDS
                  if name != "event" and getattr(record, name, None) is not None]
        if not fields:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head} [{' '.join(fields)}]{sep}{tail}"


def configure_logging(cfg: "LoggingConfig", *, stream: TextIO | None = None,
                      secrets: Iterable[str] = (), level: str | None = None) -> logging.Handler:
    """Send ``redheart.*`` records to ``stream`` (stderr) in the configured format and level.

    ``cfg`` is the ``logging`` section of the config (``level``, ``format``); calling again
    replaces the handler installed before, so it is safe in tests and in reloads. ``level``
    overrides ``cfg.level`` (the CLI's ``-v`` / ``-q``).
    """
    level = (level or str(cfg.level)).upper()
    fmt = str(cfg.format)
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
