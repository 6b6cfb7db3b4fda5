"""The built-in strategies are plugins: registered by the memory plugin, chosen by name."""

from __future__ import annotations

import pytest

from redheart_core import load_config
from redheart_core.errors import ConfigError
from redheart_core.memory import (Budget, CpuStrategy, ModuleFootprint, PhaseSwapStrategy,
                                  ResidentStrategy, UnifiedMemoryManager)
from redheart_core.plugins import get_registry
from redheart_core.runtime import Runtime

MIB = 1024 ** 2
BASE = ["analyzers=[]", "llm.backend=none"]


def test_the_four_builtins_are_registered_by_the_memory_plugin():
    registry = get_registry()
    regs = {r.name: r for r in registry.all("memory_strategies")}
    assert {"auto", "resident", "phase_swap", "cpu"} <= set(regs)
    assert all(regs[n].plugin == "builtin-memory" and regs[n].description
               for n in ("auto", "resident", "phase_swap", "cpu"))


@pytest.mark.parametrize("name, device, expected", [
    ("cpu", "cpu", "cpu"), ("phase_swap", "cpu", "phase_swap"), ("resident", "cpu", "resident"),
    ("auto", "cpu", "cpu"), ("auto", "auto", None)])
def test_runtime_memory_uses_the_strategy_the_config_names(name, device, expected):
    cfg = load_config(overrides=[*BASE, f"memory.strategy={name}", f"memory.device={device}",
                                 "memory.options.group_limit=3"])
    umm = Runtime(cfg).memory
    assert isinstance(umm, UnifiedMemoryManager)
    if expected is not None:
        assert umm.strategy_name == expected
    assert umm.gate.group_limit == 3
    assert umm.budget.budget_bytes == 8 * 1024 ** 3 and umm.budget.headroom == 0.1


def test_an_unknown_strategy_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[*BASE, "memory.strategy=fastest"])
    assert info.value.key == "memory.strategy"
    assert {"auto", "cpu", "phase_swap", "resident"} <= set(info.value.choices)


def test_an_unknown_strategy_option_names_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[*BASE, "memory.strategy=resident", "memory.options.prefetch=true"])
    assert info.value.key == "memory.options.prefetch" and info.value.choices == ["group_limit"]


def test_a_cuda_device_that_is_not_there_is_a_config_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = load_config(overrides=[*BASE, "memory.device=cuda:0"])
    with pytest.raises(ConfigError, match="memory.device.*not available"):
        Runtime(cfg).memory


FOOTPRINTS = {
    "embedder": ModuleFootprint("embedder", 90 * MIB, frozenset({"red_heart"}), priority=2),
    "head": ModuleFootprint("head", 10 * MIB, frozenset({"red_heart"}), depends_on=("embedder",)),
    "circuit": ModuleFootprint("circuit", 20 * MIB, frozenset({"circuit"}), depends_on=("head",)),
    "llm": ModuleFootprint("llm", 300 * MIB, frozenset({"llm"})),
}


def test_phase_swap_targets_a_phase_and_what_it_depends_on_by_priority():
    targets = PhaseSwapStrategy().targets("circuit", FOOTPRINTS)
    assert targets == ["embedder", "circuit", "head"]


def test_problems_name_the_phase_its_modules_and_what_to_change():
    problems = PhaseSwapStrategy().problems(FOOTPRINTS, Budget(200 * MIB, 0.0))
    assert len(problems) == 2  # llm is oversize: as a module and as a phase
    assert "module 'llm' needs 300.0 MiB" in problems[0]
    assert "phase 'llm' needs 300.0 MiB" in problems[1] and "memory.vram_budget_gb" in problems[1]
    assert ResidentStrategy().problems(FOOTPRINTS, Budget(400 * MIB, 0.0))[0].startswith(
        "strategy 'resident' keeps all modules resident and they need 420.0 MiB")
    assert CpuStrategy().problems(FOOTPRINTS, Budget(MIB)) == []
