"""Plugin options check their own ranges once, when the config is loaded; the core names the key."""

from __future__ import annotations

import pytest

from redheart_core.config import load_config
from redheart_core.errors import ConfigError


@pytest.mark.parametrize("override, key", [
    ("analyzer_options.emotion.llm_weight=5", "analyzer_options.emotion.llm_weight"),
    ("analyzer_options.surd.bins=40", "analyzer_options.surd.bins"),
    ("analyzer_options.circuit.threshold=-1", "analyzer_options.circuit.threshold"),
    ("analyzer_options.emotion.llm_weight=2", "analyzer_options.emotion.llm_weight"),
    ("analyzer_options.surd.bins=1", "analyzer_options.surd.bins"),
    ("analyzer_options.regret.max_duration_hours=-1", "analyzer_options.regret.max_duration_hours"),
])
def test_an_out_of_range_analyzer_option_fails_at_load_naming_the_full_key(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert info.value.key == key and "got" in str(info.value)


def test_an_api_backend_option_out_of_range_fails_at_load():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["llm.backend=claude", "llm.options.max_concurrency=0"])
    assert info.value.key == "llm.options.max_concurrency"
    assert "at least 1" in str(info.value) and "claude" in str(info.value)


def test_a_runtime_validates_each_parts_options_once(monkeypatch):
    from redheart_core import config as config_module
    from redheart_core.runtime import Runtime

    cfg = load_config(overrides=["analyzers=[emotion]"])
    seen: list[str] = []
    validate = config_module.validate_options

    def counting(options_cls, values, key, owner):
        seen.append(key)
        return validate(options_cls, values, key, owner)

    monkeypatch.setattr(config_module, "validate_options", counting)
    runtime = Runtime(cfg)
    built = (runtime.llm, runtime.memory_strategy, runtime.analyzers)
    assert all(built)
    assert sorted(seen) == ["analyzer_options.emotion", "llm.options", "memory.options"]
