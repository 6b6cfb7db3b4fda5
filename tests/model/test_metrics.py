"""The figures the model is judged by."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from redheart_core.model.metrics import accuracy, auc, pair_accuracy, pearson


def brute_auc(scores, positive):
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_counts_ties_as_half_like_the_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    positive = rng.random(60) < 0.4
    assert auc(scores, positive) == pytest.approx(brute_auc(scores, positive))
    assert auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0


def test_a_tied_pair_is_not_counted_as_ordered():
    assert pair_accuracy(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0])) == pytest.approx(1 / 3)


def test_pearson_and_accuracy():
    assert pearson(np.arange(5.0), 2 * np.arange(5.0) + 1) == pytest.approx(1.0)
    assert np.isnan(pearson(np.ones(4), np.arange(4.0)))
    assert accuracy(np.array(["joy", "fear"]), np.array(["joy", "anger"])) == 0.5
