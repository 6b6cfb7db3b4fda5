"""The built-in analyzers pass the same suite third-party analyzers use.

Each is built from a config naming it and its requirements, fed items shaped by the pipeline's
prepare stage (the shared embedder's vectors) and the real outputs of what it requires.
"""

from redheart_core.testing import AnalyzerConformance


class TestEmotion(AnalyzerConformance):
    plugin_name = "emotion"


class TestBentham(AnalyzerConformance):
    plugin_name = "bentham"


class TestEthics(AnalyzerConformance):
    plugin_name = "ethics"


class TestRegret(AnalyzerConformance):
    plugin_name = "regret"


class TestSurd(AnalyzerConformance):
    plugin_name = "surd"


class TestCircuit(AnalyzerConformance):
    plugin_name = "circuit"
