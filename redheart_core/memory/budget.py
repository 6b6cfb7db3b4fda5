"""The device budget: how many bytes of modules may be resident, and the error when they cannot.

Only module weights are budgeted; ``headroom`` (a fraction of the budget) is left free for
activations, the allocator's cache and the CUDA context.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RedheartError

GIB = 1024 ** 3

CHANGE_HINT = ("raise memory.vram_budget_gb, lower memory.headroom, configure a smaller model, "
               "or set memory.strategy=cpu")


class MemoryBudgetError(RedheartError):
    """A module, or a phase's working set, cannot fit in the device budget."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, as NVML and ``nvidia-smi`` count."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Budget:
    """``budget_bytes`` of device memory, of which ``limit_bytes`` may hold module weights."""

    budget_bytes: int
    headroom: float = 0.1

    def __post_init__(self) -> None:
        if self.budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive, got {self.budget_bytes}")
        if not 0 <= self.headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), got {self.headroom}")

    @classmethod
    def from_gb(cls, gb: float, headroom: float = 0.1) -> "Budget":
        return cls(int(gb * GIB), headroom)

    @property
    def limit_bytes(self) -> int:
        return int(self.budget_bytes * (1 - self.headroom))

    def describe(self) -> str:
        return (f"{format_bytes(self.limit_bytes)} (budget {format_bytes(self.budget_bytes)} "
                f"minus headroom {self.headroom:g})")

    def oversize_error(self, name: str, size: int) -> MemoryBudgetError:
        return MemoryBudgetError(
            f"module {name!r} needs {format_bytes(size)} but the memory budget allows "
            f"{self.describe()}; {CHANGE_HINT}")
