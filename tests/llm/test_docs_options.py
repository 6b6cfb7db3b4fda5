"""docs/llm-backends.md documents every option of every backend and translator we ship."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from redheart_core.plugins import get_registry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "llm-backends.md").read_text(encoding="utf-8")
SHIPPED = [("llm_backends", n) for n in ("none", "claude", "openai", "local")] + [("translators", "marian")]


@pytest.mark.parametrize("kind, name", SHIPPED, ids=[n for _, n in SHIPPED])
def test_every_option_is_documented(kind, name):
    registration = get_registry().get(kind, name)
    missing = [f.name for f in dataclasses.fields(registration.options) if f"`{f.name}`" not in DOC]
    assert not missing, f"docs/llm-backends.md does not mention {name}'s option(s) {missing}"
    assert f"`{name}`" in DOC
