"""The dry-run memory plan of a config: every module it composes, planned before anything loads.

``redheart memory plan`` and ``redheart doctor`` print it. The components are built as the
pipeline builds them, but against a recording manager (device cpu, strategy cpu: it keeps
each ``register`` call's name, size, phases and priority and moves nothing); see
``docs/memory.md`` for how sizes are obtained.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from .memory.footprint import DeclaresFootprint, ModuleFootprint, declared_modules, module_bytes
from .memory.manager import UnifiedMemoryManager
from .memory.plan import MemoryPlan, build_plan
from .memory.strategies import CpuStrategy
from .phases import Phase, Stage
from .runtime import Runtime, resolve_device


def plan_for_config(cfg: DictConfig) -> MemoryPlan:
    """The plan for ``cfg``: its modules' footprints under its strategy, device and budget.

    Nothing is put on a device; CUDA need not be present (``memory.device=cuda`` plans a GPU).
    """
    recorder = UnifiedMemoryManager("cpu", strategy=CpuStrategy())  # checks no budget
    runtime = Runtime(cfg, memory=recorder)
    footprints, notes = collect_footprints(runtime)
    return build_plan(footprints, runtime.memory_strategy,
                      resolve_device(cfg.memory.device, dry_run=True), runtime.memory_budget, notes)


def _declared(component: Any, default_phase: Phase, prefix: str) -> list[tuple[ModuleFootprint, Any]]:
    """A component's footprints: its ``memory_footprint()`` (sizes known without loading
    weights) or else its measured ``modules()``."""
    if isinstance(component, DeclaresFootprint):
        out = []
        for item in component.memory_footprint():
            if not isinstance(item, ModuleFootprint):
                raise TypeError(f"{prefix}.memory_footprint() must yield ModuleFootprint, "
                                f"got {type(item).__name__}")
            out.append((item, None))
        return out
    found = declared_modules(component)
    return [(ModuleFootprint(name, module_bytes(m), frozenset([default_phase])), m)
            for name, m in found.items()]


def collect_footprints(runtime: Runtime) -> tuple[list[ModuleFootprint], list[str]]:
    """Footprints of every module ``runtime``'s components use, and notes on how they were got.

    Building the components registers their modules with ``runtime.memory``. Modules a component exposes but did not register are added from
    ``memory_footprint()`` or measured ``modules()``.
    """
    components: list[tuple[Any, Phase, str]] = []
    for analyzer in runtime.analyzers:  # an analyzer's phase is its stage's name
        stage = runtime.stage_of(analyzer)
        components.append((analyzer, Phase(stage), analyzer.name))
    components.append((runtime.llm, Stage.LLM_INITIAL.phase, "llm"))
    components.append((runtime.embedder, Stage.RED_HEART.phase, "embedder"))
    if runtime.translator is not None:
        components.append((runtime.translator, Stage.PREPARE.phase, "translator"))
    found = runtime.memory.footprints()
    seen_modules = {id(m) for m in runtime.memory.registered_modules().values()}
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
