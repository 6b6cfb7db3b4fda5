"""The manager a config's ``memory`` section describes."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig

from ..config import plugin_options
from ..errors import ConfigError
from .budget import GIB, Budget
from .strategies import MemoryStrategy

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_CHOICES = ["auto", "cpu", "cuda", "cuda:N", "mps"]


def check_device(configured: str) -> None:
    """Fail on a device name torch would not understand (before anything is built)."""
    if not _DEVICE.match(str(configured)):
        raise ConfigError("memory.device", f"unknown device {configured!r}", choices=DEVICE_CHOICES)


def resolve_device(configured: str, *, dry_run: bool = False) -> str:
    """``auto`` -> ``cuda`` when torch sees a CUDA device, else ``cpu``.

    A CUDA device that is not there is a config error, except in a dry run (a plan for a GPU
    can be made on a machine without one).
    """
    check_device(configured)
    if configured == "auto" or (configured.startswith("cuda") and not dry_run):
        import torch

        available = torch.cuda.is_available()
        if configured == "auto":
            return "cuda" if available else "cpu"
        index = int(configured.partition(":")[2] or 0)
        if not available or index >= torch.cuda.device_count():
            raise ConfigError("memory.device", f"{configured!r} is not available on this machine "
                              f"(torch sees {torch.cuda.device_count()} CUDA devices); set "
                              "memory.device=auto or cpu")
    return configured


def strategy_from_config(cfg: DictConfig, registry: Any) -> MemoryStrategy:
    reg = registry.get("memory_strategies", cfg.memory.strategy, "memory.strategy")
    strategy = reg.factory(plugin_options(cfg, reg, "memory.options"))
    if not isinstance(strategy, MemoryStrategy):
        raise ConfigError("memory.strategy", f"{reg.label} ({reg.distribution}) built a "
                          f"{type(strategy).__name__}, not a MemoryStrategy")
    return strategy


def budget_from_config(cfg: DictConfig) -> Budget:
    return Budget(int(cfg.memory.vram_budget_gb * GIB), cfg.memory.headroom)


def manager_from_config(cfg: DictConfig, registry: Any) -> Any:
    from .manager import UnifiedMemoryManager

    budget = budget_from_config(cfg)
    return UnifiedMemoryManager(resolve_device(cfg.memory.device), budget.budget_bytes,
                                strategy_from_config(cfg, registry), budget.headroom)
