"""The built-in analyzers register like any plugin, and registering them stays light."""

from __future__ import annotations

import pytest

from redheart_core.config import load_config
from redheart_core.errors import ConfigError
from redheart_core.plugins import PluginRegistry
from redheart_core.testing.plugin_suite import modules_imported_by


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry(entry_points=False)


def test_all_six_register_with_options_and_requirements(registry):
    assert {"emotion", "bentham", "ethics", "regret", "surd", "circuit"} <= set(registry.names("analyzers"))
    assert registry.get("analyzers", "emotion").requires == ()
    assert registry.get("analyzers", "regret").requires == ("emotion", "bentham")
    assert registry.get("analyzers", "circuit").requires == ("emotion", "bentham", "ethics", "regret")
    assert registry.get("analyzers", "circuit").extra["stage"] == "circuit"
    for name in ("emotion", "bentham", "ethics", "regret", "surd", "circuit"):
        reg = registry.get("analyzers", name)
        assert reg.options is not None and reg.description and reg.plugin == "builtin-analyzers"


def test_registering_imports_no_numpy_or_torch():
    code = ("from redheart_core.plugins import PluginRegistry; "
            "PluginRegistry(entry_points=False).get('analyzers', 'emotion')")
    assert modules_imported_by(code, ("numpy", "torch", "sentence_transformers")) == []


def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["analyzer_options.surd.sample=10"])
    assert info.value.key == "analyzer_options.surd.sample"
    assert "samples" in info.value.choices


def test_a_missing_checkpoint_is_a_config_error_naming_the_key(tmp_path):
    from redheart_core.runtime import Runtime

    with pytest.raises(ConfigError) as info:
        Runtime(load_config(overrides=[f"analyzer_options.emotion.checkpoint={tmp_path}/none.ckpt"])).analyzers
    assert info.value.key == "analyzer_options.emotion.checkpoint"


def test_runtime_builds_them_in_dependency_order_with_the_shared_embedder():
    from redheart_core.runtime import Runtime

    runtime = Runtime(load_config(overrides=["seed=3"]))
    built = runtime.analyzers
    assert [a.name for a in built] == ["emotion", "bentham", "ethics", "regret", "surd", "circuit"]
    assert [a.stage for a in built] == ["red_heart"] * 5 + ["circuit"]
    assert built[0].embedder is runtime.embedder
    assert built[-1].store is runtime.experience
    assert built[4].seed == 3
    assert built[0].provenance() == {"embedder": runtime.embedder.model_id}
