"""The HTML report's test set-up: a real headless Chromium, and analyses to render."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from .chromium import Chromium, find_chromium

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """Debian's chromium, which `make test` installs; on a developer machine without it the
    browser tests skip, in CI they fail."""
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed: `make test` installs it (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser = Chromium(binary)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def analyses():
    """A full offline analysis of an English and of a Korean text (no translator)."""
    from redheart_core import analyze, load_config

    cfg = load_config(files=[REPO / "examples" / "configs" / "offline.yaml"])
    english = analyze("My friend asked me to lie to cover for him at work. If I refuse he may "
                      "lose his job.", config=cfg)
    korean = analyze("회사 회계 장부를 조작하라는 지시를 받았다. 거부하면 해고될 수도 있다.", config=cfg)
    return english, korean
