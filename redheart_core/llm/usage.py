"""Token usage of the LLM calls made on behalf of one request.

The pipeline opens a meter around a request's LLM stages; every ``complete`` made inside it
(through the reading functions) adds its usage. A contextvar keeps concurrent requests apart.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Mapping

_meter: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("redheart_llm_usage", default=None)


@contextlib.contextmanager
def usage_meter() -> Iterator[dict[str, int]]:
    """Collect token usage of LLM calls made inside the block into the yielded dict."""
    totals: dict[str, int] = {}
    token = _meter.set(totals)
    try:
        yield totals
    finally:
        _meter.reset(token)


def record_usage(usage: Mapping[str, int] | None) -> None:
    """Add one call's usage (e.g. ``{"input_tokens": 12, "output_tokens": 40}``) to the meter."""
    totals = _meter.get()
    if totals is None or not usage:
        return
    for key, value in usage.items():
        if isinstance(value, int) and not isinstance(value, bool):
            totals[key] = totals.get(key, 0) + value
