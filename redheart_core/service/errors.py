"""The service's one error shape: ``{"error": {"type", "message", ...}}`` with a status code."""

from __future__ import annotations

from typing import Any


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
