"""The ``redheart_plugin`` fixture registers a plugin object for one test and removes it after."""

from __future__ import annotations

import pytest

from redheart_core import hookimpl, load_config
from redheart_core.errors import ConfigError, PluginError
from redheart_core.plugins import get_registry
from redheart_core.runtime import Runtime


class Shouter:
    requires = ()

    def analyze_batch(self, items):
        return [{"upper": sum(c.isupper() for c in item.text)} for item in items]


class ShouterPlugin:
    @hookimpl
    def redheart_register_analyzers(self, register):
        register("shouter", lambda options: Shouter(), description="counts capitals")


def test_registered_plugin_is_usable_from_a_config_and_gone_afterwards(request):
    def still_registered() -> bool:
        return "shouter" in get_registry().names("analyzers")

    # finalizers run last-in first-out: added before the fixture is set up, this one runs
    # after the fixture's teardown
    request.addfinalizer(lambda: None if not still_registered() else pytest.fail(
        "the redheart_plugin fixture left 'shouter' registered after the test"))
    redheart_plugin = request.getfixturevalue("redheart_plugin")
    registry = redheart_plugin(ShouterPlugin(), name="shouter-plugin")
    assert registry is get_registry()
    cfg = load_config(overrides=["analyzers=[shouter]"])
    (analyzer,) = Runtime(cfg).analyzers
    assert analyzer.name == "shouter"
    assert registry.infos["shouter-plugin"].registers == {"analyzers": ["shouter"]}


def test_not_registered_in_another_test():
    with pytest.raises(ConfigError, match="unknown analyzer 'shouter'"):
        load_config(overrides=["analyzers=[shouter]"])


def test_a_name_in_use_is_refused(redheart_plugin):
    redheart_plugin(ShouterPlugin(), name="shouter-plugin")
    with pytest.raises(PluginError, match="already registered"):
        redheart_plugin(ShouterPlugin(), name="shouter-plugin")
