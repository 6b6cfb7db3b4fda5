"""A bias-only expert for the utility pairs: what a linear probe on frozen vectors already knows.

ETHICS' hard utilitarianism test was filtered against models that read surface features, so a
model that learns those same shortcuts does worse than chance there. Training the utility head
in a product of experts with a frozen-encoder linear scorer (Clark et al., "Don't Take the Easy
Way Out", EMNLP 2019) makes it learn what the shortcut does not explain: the loss sees
``u(better) - u(worse) + weight * probe margin``, and inference uses ``u`` alone. The probe's
margins are out-of-fold, so no pair is scored by a probe that saw it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .corpus import Example

Encoder = Callable[[list[str]], np.ndarray]


def _fit_pairwise(diff: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Weights of a logistic scorer on pair differences (no bias: the order is the label)."""
    import torch

    x = torch.as_tensor(np.vstack([diff, -diff]), dtype=torch.float64)
    y = torch.cat([torch.ones(len(diff)), torch.zeros(len(diff))]).double()
    w = torch.zeros(diff.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, y) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach().numpy()


def probe_margins(pairs: Sequence[Example], encode: Encoder, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold margin ``probe(better) - probe(worse)`` of each utility pair."""
    diff = encode([p.text for p in pairs]) - encode([p.worse for p in pairs])  # type: ignore[misc]
    order = np.random.default_rng(seed).permutation(len(pairs))
    margins = np.zeros(len(pairs))
    for fold in np.array_split(order, folds):
        held = np.zeros(len(pairs), dtype=bool)
        held[fold] = True
        weights = _fit_pairwise(diff[~held])
        margins[held] = diff[held] @ weights
    return margins


def with_margins(pairs: Sequence[Example], margins: np.ndarray) -> list[Example]:
    """The pairs carrying their probe margin as their target."""
    return [Example(p.text, (float(m),), p.pair, p.worse) for p, m in zip(pairs, margins)]
