"""The HTTP service: one shared :class:`~redheart_core.Pipeline` behind an ASGI app.

``redheart serve`` runs it under uvicorn; :func:`create_app` builds the app for any other ASGI
server. Imported only by the commands that need it, so FastAPI stays out of the CLI's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from .app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'redheart_core.service' has no attribute {name!r}")
