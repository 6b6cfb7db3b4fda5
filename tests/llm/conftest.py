"""Tiny random models built once per session and saved the way users' models are saved, so
the local plugin loads them through its own loading code."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from redheart_plugins_local.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory) -> Path:
    from redheart_plugins_local.testing import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))


@pytest.fixture(scope="session")
def tiny_byte_llama(tmp_path_factory) -> Path:
    """A tiny random Llama whose byte-level tokenizer can write any text (so any JSON)."""
    from redheart_plugins_local.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-byte-llama"), byte_level=True)
