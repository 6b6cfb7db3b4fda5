"""redheart: ethical and emotional decision analysis with pluggable LLMs and analyzers.

The public API is imported lazily so that ``import redheart_core`` (and the CLI's start-up)
never pulls in torch, transformers or an SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["hookimpl", "load_config", "Pipeline", "analyze", "AnalysisResult", "__version__"]

_LAZY = {
    "load_config": ("redheart_core.config", "load_config"),
    "Pipeline": ("redheart_core.pipeline", "Pipeline"),
    "analyze": ("redheart_core.pipeline", "analyze"),
    "AnalysisResult": ("redheart_core.schema", "AnalysisResult"),
}

if TYPE_CHECKING:
    from .config import load_config
    from .pipeline import Pipeline, analyze
    from .schema import AnalysisResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'redheart_core' has no attribute {name!r}")
