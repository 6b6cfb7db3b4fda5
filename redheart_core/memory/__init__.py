"""One memory manager for every torch module: phases, a device budget, pluggable strategies.

Importing this package does not import torch; the offload and monitor code does, when used.
"""

from __future__ import annotations

from .budget import Budget, MemoryBudgetError, format_bytes
from .footprint import (ModuleFootprint, meta_module_bytes, module_bytes, pretrained_bytes,
                        safetensors_bytes)
from .manager import UnifiedMemoryManager
from .plan import MemoryPlan, build_plan
from .strategies import (CANONICAL_PHASES, AutoStrategy, CpuStrategy, MemoryStrategy,
                         PhaseSwapStrategy, ResidentStrategy, StrategyOptions, SwapOptions)

__all__ = [
    "AutoStrategy", "Budget", "CANONICAL_PHASES", "CpuStrategy", "MemoryBudgetError",
    "MemoryPlan", "MemoryStrategy", "ModuleFootprint", "PhaseSwapStrategy", "ResidentStrategy",
    "StrategyOptions", "SwapOptions", "UnifiedMemoryManager", "build_plan", "format_bytes",
    "meta_module_bytes", "module_bytes", "pretrained_bytes", "safetensors_bytes",
]
