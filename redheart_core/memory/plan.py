"""Dry-run plans: which modules each phase holds on the device, the peak, and whether it fits.

:func:`build_plan` is pure bookkeeping over footprints, shared by ``umm.plan()`` and
``redheart memory plan`` (whose footprints :mod:`redheart_core.memory_plan` gathers from a
config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .budget import Budget, format_bytes
from .footprint import ModuleFootprint
from .strategies import MemoryStrategy, by_priority, phase_order, total_bytes, working_set


@dataclass
class PhasePlan:
    resident: list[str]
    bytes: int


@dataclass
class MemoryPlan:
    """A plan; :meth:`to_dict` is the ``redheart memory plan --json`` document."""

    strategy: str
    device: str
    budget: Budget
    modules: dict[str, ModuleFootprint]
    phases: dict[str, PhasePlan]
    peak_bytes: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "device": self.device,
            "budget_bytes": self.budget.budget_bytes,
            "modules": {n: {"bytes": f.bytes, "phases": sorted(f.phases), "priority": f.priority}
                        for n, f in self.modules.items()},
            "phases": {p: {"resident": plan.resident, "bytes": plan.bytes}
                       for p, plan in self.phases.items()},
            "peak_bytes": self.peak_bytes,
            "fits": self.fits,
        }

    def render(self) -> str:
        lines = [f"strategy {self.strategy} on {self.device}; modules may use "
                 f"{self.budget.describe()}"]
        if not self.modules:
            lines.append("no torch modules are configured")
        for name in by_priority(self.modules, self.modules):
            f = self.modules[name]
            phases = ", ".join(sorted(f.phases)) or "all phases"
            lines.append(f"  module {name:<28} {format_bytes(f.bytes):>10}  priority {f.priority:>3}"
                         f"  ({phases})")
        for phase, plan in self.phases.items():
            lines.append(f"  phase  {phase:<28} {format_bytes(plan.bytes):>10}  "
                         f"{', '.join(plan.resident) or '-'}")
        lines.append(f"peak {format_bytes(self.peak_bytes)}: "
                     + ("fits" if self.fits else "does NOT fit"))
        lines += [f"  overflow: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def build_plan(footprints: Iterable[ModuleFootprint], strategy: MemoryStrategy, device: str,
               budget: Budget, notes: Iterable[str] = ()) -> MemoryPlan:
    """Plan ``footprints`` under ``strategy`` (``auto`` resolved) on ``device`` within ``budget``."""
    modules = {f.name: f for f in footprints}
    resolved = strategy.resolve(device.split(":", 1)[0], modules, budget)
    phases = {}
    for phase in phase_order(modules.values()):
        names = (resolved.targets(phase, modules) if resolved.on_device
                 else by_priority(working_set(phase, modules), modules))
        phases[phase] = PhasePlan(names, total_bytes(names, modules))
    peak = max((p.bytes for p in phases.values()), default=0)
    notes = list(notes)
    if not resolved.on_device:
        notes.append("the cpu strategy puts nothing on an accelerator: the VRAM budget does not "
                     "apply (set memory.device=cuda to plan for a GPU)")
    return MemoryPlan(resolved.name, device, budget, modules, phases, peak,
                      resolved.problems(modules, budget), notes)
