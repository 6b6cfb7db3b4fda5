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

# A suite started in the background (`make test &`, nohup, some CI runners) inherits SIGINT
# ignored, and every subprocess it starts keeps that ignore across exec: the Ctrl-C tests' signal
# would vanish. Give the suite Python's own handler, as an interactive run has.
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
