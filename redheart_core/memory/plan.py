"""Dry-run plans: which modules each phase holds on the device, the peak, and whether it fits.

:func:`build_plan` is pure bookkeeping over footprints, shared by ``umm.plan()`` and
``redheart memory plan``. :func:`collect_footprints` gathers the footprints of everything a
config composes without putting anything on a device: see ``docs/memory.md`` for how sizes
are obtained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from .budget import Budget, format_bytes
from .footprint import ModuleFootprint, declared_modules, module_bytes
from .strategies import MemoryStrategy, by_priority, phase_order, total_bytes, working_set

if TYPE_CHECKING:
    from ..runtime import Runtime


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


# ------------------------------------------------------------ from a config


def _declared(component: Any, default_phase: str, prefix: str) -> list[tuple[ModuleFootprint, Any]]:
    """A component's footprints: its ``memory_footprint()`` (sizes known without loading
    weights) or else its measured ``modules()``."""
    declare = getattr(component, "memory_footprint", None)
    if callable(declare):
        out = []
        for item in declare():
            if not isinstance(item, ModuleFootprint):
                raise TypeError(f"{prefix}.memory_footprint() must yield ModuleFootprint, "
                                f"got {type(item).__name__}")
            out.append((item, None))
        return out
    found = declared_modules(component)
    return [(ModuleFootprint(name, module_bytes(m), frozenset([default_phase])), m)
            for name, m in found.items()]


def collect_footprints(runtime: "Runtime") -> tuple[list[ModuleFootprint], list[str]]:
    """Footprints of every module the runtime's components use, and notes on how they were got.

    The components are built with a recording manager in place of ``runtime.memory`` (device
    cpu, strategy cpu: it keeps each ``register`` call's name, size, phases and priority and
    moves nothing). Modules a component exposes but did not register are added from
    ``memory_footprint()`` or measured ``modules()``.
    """
    from .strategies import CpuStrategy
    from .manager import UnifiedMemoryManager

    recorder = UnifiedMemoryManager("cpu", runtime.config.memory.vram_budget_gb * 1024 ** 3,
                                    CpuStrategy(), runtime.config.memory.headroom)
    runtime.__dict__["memory"] = recorder
    components: list[tuple[Any, str, str]] = []
    for analyzer in runtime.analyzers:
        components.append((analyzer, getattr(analyzer, "stage", "red_heart") or "red_heart",
                           analyzer.name))
    components.append((runtime.llm, "llm", "llm"))
    for attr in ("embedder", "translator"):
        if hasattr(type(runtime), attr):
            component = getattr(runtime, attr)
            if component is not None:
                components.append((component, "red_heart", attr))
    found = recorder.footprints()
    seen_modules = {id(e.module) for e in recorder._entries.values()}
    measured = []
    for component, phase, prefix in components:
        for footprint, module in _declared(component, phase, prefix):
            if footprint.name in found or (module is not None and id(module) in seen_modules):
                continue
            found[footprint.name] = footprint
            if module is not None:
                seen_modules.add(id(module))
                measured.append(footprint.name)
    notes = []
    if measured:
        notes.append("measured from loaded weights (no memory_footprint()): " + ", ".join(measured))
    return list(found.values()), notes
