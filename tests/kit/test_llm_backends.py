"""The LLM backends we ship pass the same suite third-party backends use.

The API backends run their real SDKs against loopback stand-ins of the vendors' HTTP APIs;
the class-scoped ``plugin_options`` fixture points them there, as a plugin author would.
"""

import pytest

from redheart_core.testing import LLMBackendConformance
from redheart_core.testing.standin_servers import SAMPLE_READING, AnthropicStandin, OpenAIStandin

SUMMARY = "The main dilemma is honesty against loyalty; refusing kindly is the better course."


class TestNoneBackend(LLMBackendConformance):
    plugin_name = "none"


class TestClaudeBackend(LLMBackendConformance):
    plugin_name = "claude"

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls):
        with AnthropicStandin(AnthropicStandin.analyst(SAMPLE_READING, SUMMARY, chunk_delay_s=0.005)) as server:
            yield {"base_url": server.base_url, "api_key": "sk-ant-kit-test", "max_retries": 0,
                   "timeout_s": 10.0}


class TestOpenAIBackend(LLMBackendConformance):
    plugin_name = "openai"

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls):
        with OpenAIStandin(OpenAIStandin.analyst(SAMPLE_READING, SUMMARY, chunk_delay_s=0.005)) as server:
            yield {"base_url": server.base_url, "api_key": "sk-kit-test", "max_retries": 0,
                   "timeout_s": 10.0}
