"""What a plugin's factory builds is checked against its kind's contract when it is built."""

from __future__ import annotations

import pytest

from redheart_core import hookimpl
from redheart_core.config import load_config
from redheart_core.errors import ConfigError
from redheart_core.runtime import Runtime


class NotAnAnalyzer:
    requires = ()  # no analyze_batch


class NotATranslator:
    def translate_batch(self, texts):  # no source / target languages
        return list(texts)


class NotABackend:
    model = None


class Mislabelled:
    @hookimpl
    def redheart_register_analyzers(self, register):
        register("not-an-analyzer", lambda options: NotAnAnalyzer())

    @hookimpl
    def redheart_register_translators(self, register):
        register("not-a-translator", lambda options: NotATranslator())

    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("not-a-backend", lambda options: NotABackend())


@pytest.mark.parametrize("override, part, key, contract", [
    ("analyzers=[not-an-analyzer]", "analyzers", "analyzers", "Analyzer"),
    ("translation.translator=not-a-translator", "translator", "translation.translator", "Translator"),
    ("llm.backend=not-a-backend", "llm", "llm.backend", "LLMBackend"),
])
def test_a_factory_that_builds_the_wrong_kind_of_object_is_a_config_error_naming_it(
        redheart_plugin, override, part, key, contract):
    redheart_plugin(Mislabelled(), "mislabelled")
    runtime = Runtime(load_config(overrides=[override]))
    with pytest.raises(ConfigError) as info:
        getattr(runtime, part)
    assert info.value.key == key
    assert f"does not keep the {contract} contract" in str(info.value)
    assert "plugin 'mislabelled'" in str(info.value)
