"""The local backend passes the shared backend suite with the tiny Llama built in the session
(none, claude and openai run it in tests/kit)."""

import pytest

from redheart_core.testing import LLMBackendConformance


class TestLocalBackend(LLMBackendConformance):
    plugin_name = "local"

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls, tiny_llama):
        return {"model_path": str(tiny_llama), "max_new_tokens": 8, "device": "cpu"}
