"""Shared test set-up: nothing may reach the network or a model hub."""

from __future__ import annotations

import os
import signal
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: The plugin distributions this repository ships. Only they (and the built-ins) load in the
#: suite, here and in every subprocess it starts: a plugin the user installed into the same
#: environment (one registering an extra memory strategy, say) would change the lists of valid
#: names the tests expect. A test that wants other plugins sets the variable itself.
PROJECT_PLUGINS = ("redheart-plugins-claude", "redheart-plugins-openai", "redheart-plugins-local",
                   "redheart-plugin-example")
os.environ["REDHEART_LOAD_PLUGINS"] = ",".join(PROJECT_PLUGINS)


@pytest.fixture(autouse=True)
def sigint_stays_deliverable():
    """A test that leaves SIGINT ignored in the suite's process would have every subprocess
    started later inherit the ignore (POSIX keeps SIG_IGN across exec), and the Ctrl-C tests
    would see their signal vanish. Put Python's own handler back after such a test."""
    yield
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def redheart_bin() -> list[str]:
    """The CLI as a subprocess command (the installed console script's module)."""
    return [sys.executable, "-m", "redheart_core"]


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
