"""The built-in memory strategies pass the same suite third-party strategies use."""

from redheart_core.testing import MemoryStrategyConformance


class TestResident(MemoryStrategyConformance):
    plugin_name = "resident"


class TestPhaseSwap(MemoryStrategyConformance):
    plugin_name = "phase_swap"
    options = {"prefetch": False}


class TestCpu(MemoryStrategyConformance):
    plugin_name = "cpu"


class TestAuto(MemoryStrategyConformance):
    plugin_name = "auto"
