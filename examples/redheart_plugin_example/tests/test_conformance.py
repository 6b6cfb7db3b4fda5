"""The redheart analyzer contract, checked by the kit: a few lines of set-up, 18 checks."""

from redheart_core.testing import AnalyzerConformance


class TestUrgencyConformance(AnalyzerConformance):
    plugin_name = "urgency"
    options = {"half_point": 2.0, "extra_markers": ["before the meeting"]}


class TestUrgencyDefaults(AnalyzerConformance):
    plugin_name = "urgency"
