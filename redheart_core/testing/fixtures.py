"""pytest fixtures for plugin authors, loaded through the ``pytest11`` entry point."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from ..plugins import get_registry


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers the conformance suites use, so ``--strict-markers`` accepts them."""
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")


@pytest.fixture
def redheart_plugin() -> Iterator[Callable[..., object]]:
    """Register a plugin object (module, class or instance with hookimpls) for one test.

    ``redheart_plugin(obj, name="mine", disabled=())`` registers ``obj`` in the process-wide
    registry that ``Pipeline.from_config`` uses for that ``plugins.disabled`` list; it is
    removed when the test ends.
    """
    added: list[tuple[object, str]] = []

    def register(obj: object, name: str | None = None, disabled=()) -> object:
        registry = get_registry(disabled)
        name = name or getattr(obj, "__name__", type(obj).__name__)
        registry.register_plugin(obj, name)
        added.append((registry, name))
        return registry

    yield register
    for registry, name in reversed(added):
        registry.unregister_plugin(name)
