"""The built-in LLM backends pass the same suite third-party backends use."""

from redheart_core.testing import LLMBackendConformance


class TestNoneBackend(LLMBackendConformance):
    plugin_name = "none"
