"""The built-in memory strategies: which modules are on the device during each phase.

A strategy is a small policy object; the manager does the moving. ``targets(phase, ...)``
lists the modules that must be resident for a phase (highest priority first), ``problems``
says why a set of modules cannot work within a budget, and ``resolve`` lets ``auto`` pick a
concrete strategy for the device and the modules registered so far. Everything here is plain
bookkeeping over :class:`~redheart_core.memory.footprint.ModuleFootprint`, so ``redheart
memory plan`` and the live manager run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..phases import PHASES
from .budget import CHANGE_HINT, Budget, format_bytes
from .footprint import ModuleFootprint

#: the pipeline's phases, in the order one request passes through them
CANONICAL_PHASES = PHASES


@dataclass
class StrategyOptions:
    """``memory.options`` shared by every built-in strategy.

    ``group_limit``: while another phase waits, at most this many more holders may still join
    the current phase, so no phase starves behind a steady stream of another.
    """

    group_limit: int = 64


@dataclass
class SwapOptions(StrategyOptions):
    """``prefetch``: after entering a phase, copy the next phase's modules into free room."""

    prefetch: bool = True


Footprints = Mapping[str, ModuleFootprint]


def phase_order(footprints: Iterable[ModuleFootprint]) -> list[str]:
    """The phases the modules name: the pipeline's own in pipeline order, then others."""
    named = {p for f in footprints for p in f.phases}
    return [p for p in CANONICAL_PHASES] + sorted(named - set(CANONICAL_PHASES))


def working_set(phase: str, footprints: Footprints) -> list[str]:
    """Modules used in ``phase`` plus everything they depend on (unknown names skipped)."""
    out: list[str] = []
    stack = [name for name, f in footprints.items() if f.used_in(phase)]
    while stack:
        name = stack.pop()
        if name in out or name not in footprints:
            continue
        out.append(name)
        stack.extend(footprints[name].depends_on)
    return out


def by_priority(names: Iterable[str], footprints: Footprints) -> list[str]:
    """Highest priority first; ties by name, so plans are stable."""
    return sorted(names, key=lambda n: (-footprints[n].priority, n))


def total_bytes(names: Iterable[str], footprints: Footprints) -> int:
    return sum(footprints[n].bytes for n in names)


class MemoryStrategy:
    """Base of the built-in strategies. Subclasses set the class attributes."""

    name = "?"
    description = ""
    #: False when nothing is put on an accelerator (the ``cpu`` strategy)
    on_device = True
    #: True when every registered module stays resident in every phase
    keeps_all = False
    options_class: type[StrategyOptions] = StrategyOptions

    def __init__(self, options: StrategyOptions | None = None):
        self.options = options if options is not None else self.options_class()

    @property
    def prefetch(self) -> bool:
        return isinstance(self.options, SwapOptions) and self.options.prefetch

    @property
    def group_limit(self) -> int:
        return int(self.options.group_limit)

    def resolve(self, device_type: str, footprints: Footprints, budget: Budget) -> "MemoryStrategy":
        """The concrete strategy to apply (``auto`` chooses; the others are themselves)."""
        return self

    def targets(self, phase: str, footprints: Footprints) -> list[str]:
        names = list(footprints) if self.keeps_all else working_set(phase, footprints)
        return by_priority(names, footprints)

    def gates(self, phase: str, footprints: Footprints) -> bool:
        """Whether work in ``phase`` must pass the phase gate, excluding other phases: only when
        entering it may move modules, that is when it has a working set that is not kept
        resident anyway. Other work (an API LLM call, anything under ``resident`` or ``cpu``)
        overlaps freely."""
        return self.on_device and not self.keeps_all and bool(working_set(phase, footprints))

    def problems(self, footprints: Footprints, budget: Budget) -> list[str]:
        """Why these modules cannot run within ``budget`` under this strategy (empty: they can)."""
        if not self.on_device:
            return []
        out = [budget.oversize_error(n, f.bytes).args[0] for n, f in footprints.items()
               if f.bytes > budget.limit_bytes]
        missing = sorted({d for f in footprints.values() for d in f.depends_on} - set(footprints))
        if missing:
            out.append(f"modules depend on unregistered {', '.join(map(repr, missing))}")
        if self.keeps_all:
            need = total_bytes(footprints, footprints)
            if need > budget.limit_bytes:
                out.append(f"strategy {self.name!r} keeps all modules resident and they need "
                           f"{format_bytes(need)} ({', '.join(by_priority(footprints, footprints))}) "
                           f"but the budget allows {budget.describe()}; use memory.strategy="
                           f"phase_swap or auto, or {CHANGE_HINT}")
            return out
        for phase in phase_order(footprints.values()):
            names = working_set(phase, footprints)
            need = total_bytes(names, footprints)
            if need > budget.limit_bytes:
                out.append(f"phase {phase!r} needs {format_bytes(need)} resident "
                           f"({', '.join(by_priority(names, footprints))}) but the budget allows "
                           f"{budget.describe()}; {CHANGE_HINT}")
        return out


class ResidentStrategy(MemoryStrategy):
    name = "resident"
    description = "every module on the device all the time; refuses a plan that does not fit"
    keeps_all = True


class PhaseSwapStrategy(MemoryStrategy):
    name = "phase_swap"
    options_class = SwapOptions
    description = ("each phase's working set on the device, the rest in pinned host memory; "
                   "lowest priority evicted first, next phase prefetched when room allows")


class CpuStrategy(MemoryStrategy):
    name = "cpu"
    description = "every module on the CPU; phases overlap freely (nothing moves)"
    on_device = False

    def targets(self, phase: str, footprints: Footprints) -> list[str]:
        return []


class AutoStrategy(MemoryStrategy):
    name = "auto"
    options_class = SwapOptions
    description = "cpu without an accelerator; else resident when everything fits, else phase_swap"

    def resolve(self, device_type: str, footprints: Footprints, budget: Budget) -> MemoryStrategy:
        if device_type == "cpu":
            return CpuStrategy(self.options)
        if total_bytes(footprints, footprints) <= budget.limit_bytes:
            return ResidentStrategy(self.options)
        return PhaseSwapStrategy(self.options)


BUILTIN_STRATEGIES: tuple[type[MemoryStrategy], ...] = (
    ResidentStrategy, PhaseSwapStrategy, CpuStrategy, AutoStrategy)
