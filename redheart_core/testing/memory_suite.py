"""``MemoryStrategyConformance``: the contract every memory strategy keeps, as pytest tests.

::

    from redheart_core.testing import MemoryStrategyConformance

    class TestMyStrategy(MemoryStrategyConformance):
        plugin_name = "largest_first"

A strategy is a policy: for each phase it names the modules that must be resident on the
device (``targets``), says why a set of modules cannot run within a budget (``problems``) and
may hand over to a concrete strategy for a device (``resolve``). The checks run it over module
footprints sized like the real pipeline's (no GPU needed) and, when CUDA is present, through the
live memory manager.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from ..memory.budget import GIB, Budget
from ..memory.footprint import ModuleFootprint
from ..memory.strategies import CANONICAL_PHASES, MemoryStrategy, working_set
from ..plugins import Registration
from ..runtime import Runtime
from .plugin_suite import PluginConformance

MIB = 1024 ** 2


def footprint(name: str, mib: int, phases: tuple[str, ...] = (), priority: int = 0,
              depends_on: tuple[str, ...] = ()) -> ModuleFootprint:
    return ModuleFootprint(name, mib * MIB, frozenset(phases), priority, depends_on)


#: modules shaped like a local-LLM pipeline: a shared embedder, heads, a circuit, a big LLM
PIPELINE_MODULES: dict[str, ModuleFootprint] = {f.name: f for f in (
    footprint("embedder", 90, priority=10),
    footprint("emotion_head", 6, ("red_heart",), depends_on=("embedder",)),
    footprint("bentham_head", 4, ("red_heart",), depends_on=("embedder",)),
    footprint("regret_head", 2, ("red_heart",), priority=1, depends_on=("embedder",)),
    footprint("circuit", 300, ("circuit",)),
    footprint("translator", 200, ("red_heart", "llm"), priority=-1),
    footprint("llm", 1000, ("llm",), priority=5),
)}
#: every phase's working set fits; everything together does not
TIGHT = Budget.from_gb(1.6, headroom=0.1)
#: everything fits at once
ROOMY = Budget.from_gb(8.0, headroom=0.1)
#: the LLM alone is larger than this budget
TOO_SMALL = Budget(int(0.5 * GIB), headroom=0.1)
DEVICES = ("cuda", "cpu")


class MemoryStrategyConformance(PluginConformance):
    """The memory strategy contract. Subclass as ``Test...`` and set ``plugin_name``."""

    kind: ClassVar[str] = "memory_strategies"

    @classmethod
    def config_patch(cls, registration: Registration, plugin_options: dict[str, Any]) -> dict[str, Any]:
        return {"memory": {"strategy": cls.plugin_name, "options": plugin_options},
                "analyzers": [], "llm": {"backend": "none"}}

    @pytest.fixture(scope="class")
    @classmethod
    def strategy(cls, runtime: Runtime, registration: Registration) -> MemoryStrategy:
        built = runtime.build(registration, "memory.options")
        assert isinstance(built, MemoryStrategy)  # the runtime refuses anything else
        return built

    @staticmethod
    def resolved(strategy: MemoryStrategy, device: str, budget: Budget,
                 modules=PIPELINE_MODULES) -> MemoryStrategy:
        concrete = strategy.resolve(device, modules, budget)
        assert isinstance(concrete, MemoryStrategy), (
            f"resolve({device!r}, ...) returned {type(concrete).__name__}; return a strategy "
            "object (subclass redheart_core.memory.strategies.MemoryStrategy)")
        return concrete

    # ------------------------------------------------------------------ checks
    def test_factory_builds_a_strategy(self, strategy: MemoryStrategy,
                                       registration: Registration) -> None:
        assert isinstance(strategy, MemoryStrategy), (
            f"the factory of {registration.label} returned {type(strategy).__name__}; subclass "
            "redheart_core.memory.strategies.MemoryStrategy")
        assert isinstance(strategy.on_device, bool), (
            "a strategy says whether it puts modules on the accelerator: set on_device = True/False")

    @pytest.mark.parametrize("device", DEVICES)
    def test_budget_respected_in_every_phase(self, strategy: MemoryStrategy, device: str) -> None:
        for budget in (TIGHT, ROOMY):
            concrete = self.resolved(strategy, device, budget)
            if concrete.problems(PIPELINE_MODULES, budget):
                continue  # it refuses this budget, which is allowed; it must then say why
            for phase in CANONICAL_PHASES:
                names = concrete.targets(phase, PIPELINE_MODULES)
                need = sum(PIPELINE_MODULES[n].bytes for n in names)
                assert need <= budget.limit_bytes, (
                    f"in phase {phase!r} with a budget of {budget.describe()} the strategy keeps "
                    f"{names} resident ({need / MIB:.0f} MiB); problems() found nothing, so "
                    "targets() must fit within budget.limit_bytes")

    def test_phase_working_set_resident(self, strategy: MemoryStrategy) -> None:
        for budget in (TIGHT, ROOMY):
            concrete = self.resolved(strategy, "cuda", budget)
            if not concrete.on_device or concrete.problems(PIPELINE_MODULES, budget):
                continue
            for phase in CANONICAL_PHASES:
                targets = concrete.targets(phase, PIPELINE_MODULES)
                missing = sorted(set(working_set(phase, PIPELINE_MODULES)) - set(targets))
                assert not missing, (
                    f"in phase {phase!r} the strategy leaves {missing} off the device although "
                    "the phase uses them (or a module it uses depends on them); targets(phase) "
                    "must include every module used in the phase and its depends_on")

    def test_a_phase_that_cannot_fit_is_refused_with_a_reason(self, strategy: MemoryStrategy) -> None:
        concrete = self.resolved(strategy, "cuda", TOO_SMALL)
        if not concrete.on_device:
            assert concrete.targets("llm", PIPELINE_MODULES) == [], (
                "a strategy with on_device = False must keep nothing resident on the device")
            return
        problems = concrete.problems(PIPELINE_MODULES, TOO_SMALL)
        assert problems and all(isinstance(p, str) and p for p in problems), (
            f"the 'llm' module ({PIPELINE_MODULES['llm'].bytes / MIB:.0f} MiB) cannot fit in "
            f"{TOO_SMALL.describe()}, but problems() returned {problems!r}; return one message "
            "per reason, naming the module or phase and what to change")
        assert any("llm" in p for p in problems), (
            f"the problems {problems!r} do not name the module that does not fit ('llm')")

    def test_targets_are_known_modules_highest_priority_first(self, strategy: MemoryStrategy) -> None:
        concrete = self.resolved(strategy, "cuda", ROOMY)
        for phase in CANONICAL_PHASES:
            targets = concrete.targets(phase, PIPELINE_MODULES)
            assert isinstance(targets, list) and len(set(targets)) == len(targets), (
                f"targets({phase!r}) returned {targets!r}; return a list of module names, each once")
            unknown = [t for t in targets if t not in PIPELINE_MODULES]
            assert not unknown, f"targets({phase!r}) names unregistered modules {unknown}"
            priorities = [PIPELINE_MODULES[t].priority for t in targets]
            assert priorities == sorted(priorities, reverse=True), (
                f"targets({phase!r}) = {targets} is not highest priority first; the manager loads "
                "in this order and evicts from the end")

    def test_unknown_phase_and_no_modules(self, strategy: MemoryStrategy) -> None:
        concrete = self.resolved(strategy, "cuda", ROOMY)
        assert concrete.targets("red_heart", {}) == [], "with no modules registered, targets() must be []"
        assert concrete.problems({}, ROOMY) == [], "with no modules registered there is no problem"
        other = concrete.targets("a_plugin_phase", PIPELINE_MODULES)
        assert set(other) <= set(PIPELINE_MODULES), (
            "a phase the strategy does not know must still get a list of registered modules")

    def test_deterministic(self, strategy: MemoryStrategy, runtime: Runtime, registration: Registration) -> None:
        again = runtime.build(registration, "memory.options")
        for device in DEVICES:
            a = self.resolved(strategy, device, TIGHT)
            b = self.resolved(again, device, TIGHT)
            for phase in CANONICAL_PHASES:
                assert a.targets(phase, PIPELINE_MODULES) == b.targets(phase, PIPELINE_MODULES), (
                    "two strategies built from the same config planned differently; plans must "
                    "depend only on the modules, the phase and the budget")

    @pytest.mark.gpu
    def test_live_manager_keeps_the_working_set_on_the_device(self, runtime: Runtime) -> None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
        memory = runtime.memory
        modules = {"kit_head": torch.nn.Linear(64, 64), "kit_circuit": torch.nn.Linear(64, 8)}
        memory.register("kit_head", modules["kit_head"], phases={"red_heart"}, priority=1)
        memory.register("kit_circuit", modules["kit_circuit"], phases={"circuit"})

        async def main() -> dict[str, str]:
            seen = {}
            async with memory.phase("red_heart"):
                seen["red_heart"] = next(modules["kit_head"].parameters()).device.type
            async with memory.phase("circuit"):
                seen["circuit"] = next(modules["kit_circuit"].parameters()).device.type
            return seen

        seen = asyncio.run(main())
        if runtime.memory.device == "cpu":
            return
        assert seen == {"red_heart": "cuda", "circuit": "cuda"}, (
            f"inside a phase its modules must be on the device, found {seen}")
