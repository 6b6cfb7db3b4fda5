"""The routing table that orders the stages.

The built-in route is ``prepare -> llm_initial -> red_heart -> circuit -> llm_final``;
:class:`Router` lets a program (or a test) add, replace or remove stages at run time. A request
keeps the route it was admitted with, so a change never reaches a request half-way through.
"""

from __future__ import annotations

from typing import Sequence

from .handler import StageHandler


class Router:
    """The routing table: stage name -> handler, in the order requests take them."""

    def __init__(self, handlers: Sequence[StageHandler] = ()):
        self._handlers: dict[str, StageHandler] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: StageHandler, *, before: str | None = None,
                 after: str | None = None, replace: bool = False) -> None:
        """Add ``handler`` at the end, or ``before``/``after`` a named stage; ``replace``
        swaps the handler of an existing stage in place."""
        name = handler.name
        if name in self._handlers and not replace:
            raise ValueError(f"stage {name!r} already has a handler; pass replace=True to swap it")
        if replace and name in self._handlers:
            self._handlers[name] = handler
            return
        anchor = before or after
        if before and after:
            raise ValueError("give before= or after=, not both")
        if anchor is None:
            self._handlers[name] = handler
            return
        if anchor not in self._handlers:
            raise ValueError(f"unknown stage {anchor!r}; stages: {', '.join(self._handlers)}")
        items = list(self._handlers.items())
        at = [n for n, _ in items].index(anchor) + (1 if after else 0)
        items.insert(at, (name, handler))
        self._handlers = dict(items)

    def remove(self, name: str) -> StageHandler:
        try:
            return self._handlers.pop(name)
        except KeyError:
            raise ValueError(f"unknown stage {name!r}; stages: {', '.join(self._handlers)}") from None

    def handler(self, name: str) -> StageHandler:
        return self._handlers[name]

    def route(self) -> tuple[StageHandler, ...]:
        return tuple(self._handlers.values())

    def names(self) -> list[str]:
        return list(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers
