"""The figures the Red Heart model is judged by, on plain arrays (training, bench and docs agree).

- ``auc``: the probability that a random acceptable example scores above a random wrong one
  (ties count half), the ETHICS commonsense figure;
- ``pair_accuracy``: the share of pairs whose more pleasant text scores strictly higher, the
  ETHICS utilitarianism figure;
- ``pearson``: linear correlation, the EmoBank figure;
- ``accuracy``: top-1 label accuracy, the emotion figure.
"""

from __future__ import annotations

import numpy as np


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the boolean labels ``positive``."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pair_accuracy(better: np.ndarray, worse: np.ndarray) -> float:
    """Share of pairs where the better text's score is strictly higher."""
    better, worse = np.asarray(better, dtype=np.float64), np.asarray(worse, dtype=np.float64)
    return float(np.mean(better > worse)) if len(better) else float("nan")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    return float(np.mean(predicted == truth)) if len(truth) else float("nan")
