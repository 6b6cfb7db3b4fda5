"""Synthetic modules for the memory tests: sizes in whole KiB, real tensors, real copies.

Without CUDA the manager runs on the ``cpu`` "device": loading and evicting still copy between
distinct host and device storages, so residency is observable, not just bookkept.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch

KIB = 1024


@pytest.fixture
def linear() -> Callable[..., torch.nn.Linear]:
    """``linear(kib, seed=0)``: a bias-free float32 Linear of exactly ``kib`` KiB of weights."""

    def make(kib: int, seed: int = 0, features: int = 64) -> torch.nn.Linear:
        gen = torch.Generator().manual_seed(seed)
        module = torch.nn.Linear(features, kib * KIB // 4 // features, bias=False)
        with torch.no_grad():
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen))
        return module

    return make
