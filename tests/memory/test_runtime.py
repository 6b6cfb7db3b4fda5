"""``runtime.memory`` with the built-in analyzers: the shared embedder is managed once."""

from __future__ import annotations

from redheart_core import load_config
from redheart_core.runtime import Runtime


def test_the_shared_embedder_is_registered_once_for_every_analyzer():
    runtime = Runtime(load_config())
    runtime.analyzers
    embedder = runtime.embedder
    assert runtime.embedder is embedder
    footprints = runtime.memory.footprints()
    assert list(footprints).count("embedder") == 1
    assert runtime.memory.registered_modules()["embedder"] is embedder.module
    assert footprints["embedder"].phases == frozenset({"red_heart"})
    assert runtime.memory.register("embedder", object()) is embedder.module
