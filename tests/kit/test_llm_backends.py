"""The LLM backends we ship pass the same suite third-party backends use.

The API backends run their real SDKs against loopback stand-ins of the vendors' HTTP APIs;
the class-scoped ``plugin_options`` fixture points them there, as a plugin author would.
(The ``local`` backend runs the suite in tests/llm, with the tiny model built there.)
"""

from typing import Any, Iterator

import pytest

from redheart_core.testing import LLMBackendConformance
from redheart_core.testing.standin_servers import SAMPLE_READING
from redheart_plugins_claude.standin import AnthropicStandin
from redheart_plugins_openai.standin import OpenAIStandin

SUMMARY = "The main dilemma is honesty against loyalty; refusing kindly is the better course."


def standin_options(standin: Any, api_key: str) -> Iterator[dict[str, Any]]:
    """Backend options pointing at a stand-in model that reads and summarises, while it runs."""
    with standin(standin.analyst(SAMPLE_READING, SUMMARY, chunk_delay_s=0.005)) as server:
        yield {"base_url": server.base_url, "api_key": api_key, "max_retries": 0, "timeout_s": 10.0}


class TestNoneBackend(LLMBackendConformance):
    plugin_name = "none"


class TestClaudeBackend(LLMBackendConformance):
    plugin_name = "claude"

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls):
        yield from standin_options(AnthropicStandin, "sk-ant-kit-test")


class TestOpenAIBackend(LLMBackendConformance):
    plugin_name = "openai"

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_options(cls):
        yield from standin_options(OpenAIStandin, "sk-kit-test")
