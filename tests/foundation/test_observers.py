"""PluginRegistry.notify: every observer hears every event, each plugin on its own."""

from __future__ import annotations

import logging

from redheart_core import hookimpl
from redheart_core.plugins import PluginRegistry


def registry_with(*plugins: tuple[str, object]) -> PluginRegistry:
    registry = PluginRegistry(entry_points=False)
    for name, plugin in plugins:
        registry.register_plugin(plugin, name)
    return registry


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def redheart_request_finished(self, result):
        self.seen.append(result)


class Broken:
    @hookimpl
    def redheart_request_finished(self, result):
        raise RuntimeError("observer bug")


def test_an_observer_that_raises_is_logged_and_the_others_still_hear(caplog):
    first, last = Recorder(), Recorder()
    registry = registry_with(("first", first), ("broken", Broken()), ("last", last))
    with caplog.at_level(logging.ERROR, logger="redheart.plugins"):
        registry.notify("redheart_request_finished", result="r1")
        registry.notify("redheart_request_finished", result="r2")
    assert first.seen == last.seen == ["r1", "r2"]
    assert caplog.text.count("observer hook redheart_request_finished of plugin 'broken' raised") == 2


def test_a_plugin_registered_or_removed_later_is_heard_or_forgotten():
    early, late = Recorder(), Recorder()
    registry = registry_with(("early", early))
    registry.notify("redheart_request_finished", result="r1")
    registry.register_plugin(late, "late")
    registry.notify("redheart_request_finished", result="r2")
    registry.unregister_plugin("early")
    registry.notify("redheart_request_finished", result="r3")
    assert early.seen == ["r1", "r2"] and late.seen == ["r2", "r3"]


def test_a_hook_wrapper_wraps_the_whole_call_once():
    calls: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def redheart_request_finished(self, result):
            calls.append("before")
            yield
            calls.append("after")

    recorder = Recorder()
    registry_with(("recorder", recorder), ("wrapper", Wrapper())).notify(
        "redheart_request_finished", result="r1")
    assert calls == ["before", "after"] and recorder.seen == ["r1"]
