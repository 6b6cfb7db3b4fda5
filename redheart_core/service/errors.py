"""The service's one error shape: ``{"error": {"type", "message", ...}}`` with a status code."""

from __future__ import annotations

import uuid
from typing import Any

from ..pipeline.queue import QueueFull
from ..schema import AnalysisResult


class ServiceError(Exception):
    """A request the service refuses; becomes a JSON error with ``status_code``, counted in
    ``redheart_requests_total`` under ``status``."""

    def __init__(self, status_code: int, status: str, type_name: str, message: str,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code, self.status, self.type_name = status_code, status, type_name
        self.headers = headers or {}


def error_body(type_name: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": type_name, "message": message, **extra}}


def rejected_result(text: str, exc: QueueFull) -> AnalysisResult:
    """An item of a batch or a stream of lines that the queue turned away, in a result's shape
    (its ``errors`` hold one ``QueueFull``, stage ``queue``), so a reader reads every item the
    same way. The pipeline itself raises :class:`QueueFull` and makes no result."""
    result = AnalysisResult(request_id=exc.request_id or uuid.uuid4().hex, text=text)
    result.add_error("queue", exc, type(exc).__name__)
    return result
