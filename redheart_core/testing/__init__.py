"""Test kit for plugin authors: conformance suites and fixtures.

Subclass a suite as a ``Test...`` class and set ``plugin_name``::

    from redheart_core.testing import AnalyzerConformance

    class TestMyAnalyzer(AnalyzerConformance):
        plugin_name = "mine"

The ``redheart_plugin`` fixture (registered with pytest through the ``pytest11`` entry point)
registers a plugin object for one test. The suites are imported on first use, so loading the
fixture plugin into every pytest run costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

for _module in ("plugin_suite", "analyzer_suite", "backend_suite", "memory_suite"):
    pytest.register_assert_rewrite(f"{__name__}.{_module}")

__all__ = ["AnalyzerConformance", "LLMBackendConformance", "MemoryStrategyConformance",
           "PluginConformance"]

_LAZY = {
    "AnalyzerConformance": "analyzer_suite",
    "LLMBackendConformance": "backend_suite",
    "MemoryStrategyConformance": "memory_suite",
    "PluginConformance": "plugin_suite",
}

if TYPE_CHECKING:
    from .analyzer_suite import AnalyzerConformance
    from .backend_suite import LLMBackendConformance
    from .memory_suite import MemoryStrategyConformance
    from .plugin_suite import PluginConformance


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
