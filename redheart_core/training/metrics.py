"""Validation metrics of the heads: accuracy and macro-F1 for the classifier, MAE otherwise."""

from __future__ import annotations

import torch


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predicted == labels).float().mean()) if len(labels) else 0.0


def macro_f1(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int) -> float:
    """F1 averaged over the classes present in ``labels`` or ``predicted`` (a class absent
    from both says nothing about the head and is left out, as scikit-learn's labels= would)."""
    scores = []
    for c in range(n_classes):
        tp = int(((predicted == c) & (labels == c)).sum())
        fp = int(((predicted == c) & (labels != c)).sum())
        fn = int(((predicted != c) & (labels == c)).sum())
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def mean_absolute_error(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    return float((predicted - targets).abs().mean()) if len(targets) else 0.0
