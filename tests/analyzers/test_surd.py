"""SURD against systems whose decomposition is known exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from redheart_core.analyzers.surd import surd, surd_from_samples


def joint(f, n_sources: int = 2, states: int = 2) -> np.ndarray:
    """p(t, a1..an) for uniform independent sources and t = f(a1..an)."""
    outputs = {a: f(*a) for a in itertools.product(range(states), repeat=n_sources)}
    n_t = max(outputs.values()) + 1
    p = np.zeros((max(n_t, 2),) + (states,) * n_sources)
    for a, t in outputs.items():
        p[(t,) + a] += 1.0
    return p / p.sum()


def total(r) -> float:
    return sum(r.unique.values()) + sum(r.redundant.values()) + sum(r.synergistic.values())


def test_xor_is_one_bit_of_synergy_and_nothing_else():
    r = surd(joint(lambda a, b: a ^ b))
    assert r.synergistic[(0, 1)] == pytest.approx(1.0, abs=1e-9)
    assert r.unique == {(0,): pytest.approx(0.0, abs=1e-9), (1,): pytest.approx(0.0, abs=1e-9)}
    assert r.redundant[(0, 1)] == pytest.approx(0.0, abs=1e-9)
    assert r.info_leak == pytest.approx(0.0, abs=1e-9)


def test_copied_input_is_one_bit_unique_to_that_input():
    r = surd(joint(lambda a, b: a))
    assert r.unique[(0,)] == pytest.approx(1.0, abs=1e-9)
    assert r.unique[(1,)] == pytest.approx(0.0, abs=1e-9)
    assert r.redundant[(0, 1)] == pytest.approx(0.0, abs=1e-9)
    assert r.synergistic[(0, 1)] == pytest.approx(0.0, abs=1e-9)


def test_and_is_half_a_bit_synergy_and_0_311_bit_redundancy():
    r = surd(joint(lambda a, b: a & b))
    assert r.synergistic[(0, 1)] == pytest.approx(0.5, abs=1e-6)
    assert r.redundant[(0, 1)] == pytest.approx(0.311, abs=1e-3)
    assert r.unique[(0,)] == pytest.approx(0.0, abs=1e-9)
    assert r.unique[(1,)] == pytest.approx(0.0, abs=1e-9)
    assert total(r) == pytest.approx(r.total_mutual_information, abs=1e-9)


def test_duplicated_source_gives_redundancy_not_unique():
    # a2 is a copy of a1 and the target copies both: one bit, redundant
    p = np.zeros((2, 2, 2))
    p[0, 0, 0] = p[1, 1, 1] = 0.5
    r = surd(p)
    assert r.redundant[(0, 1)] == pytest.approx(1.0, abs=1e-9)
    assert r.unique[(0,)] == pytest.approx(0.0, abs=1e-9)
    assert r.synergistic[(0, 1)] == pytest.approx(0.0, abs=1e-9)


def test_two_bit_copy_splits_into_one_redundant_and_one_synergistic_bit():
    # the "two-bit copy" of the PID literature: every target state is equally informed by
    # either source (1 bit each, state by state), so specific information calls that bit
    # redundant, and the second bit needs both sources
    r = surd(joint(lambda a, b: 2 * a + b))
    assert r.redundant[(0, 1)] == pytest.approx(1.0, abs=1e-9)
    assert r.synergistic[(0, 1)] == pytest.approx(1.0, abs=1e-9)
    assert r.unique[(0,)] == pytest.approx(0.0, abs=1e-9)
    assert r.total_mutual_information == pytest.approx(2.0, abs=1e-9)


def test_unequal_sources_leave_unique_information_to_the_stronger_one():
    # t copies a1 (two states) while a2 only tells t apart when a1 is 1: a1 is unique
    r = surd(joint(lambda a, b: a * (1 + b) if a else 0, states=2))
    assert r.unique[(0,)] > 0.1
    assert r.unique[(1,)] == pytest.approx(0.0, abs=1e-9)
    assert total(r) == pytest.approx(r.total_mutual_information, abs=1e-9)


def test_three_way_xor_is_synergy_of_all_three_only():
    r = surd(joint(lambda a, b, c: a ^ b ^ c, n_sources=3))
    assert r.synergistic[(0, 1, 2)] == pytest.approx(1.0, abs=1e-9)
    others = [v for k, v in r.synergistic.items() if k != (0, 1, 2)]
    assert max(others + list(r.unique.values()) + list(r.redundant.values())) == pytest.approx(0.0, abs=1e-9)


def test_a_source_the_target_ignores_gets_nothing():
    r = surd(joint(lambda a, b, c: a ^ b, n_sources=3))
    assert r.synergistic[(0, 1)] == pytest.approx(1.0, abs=1e-9)
    assert r.unique[(2,)] == pytest.approx(0.0, abs=1e-9)
    assert r.mutual_information[(2,)] == pytest.approx(0.0, abs=1e-9)


def test_independent_noise_target_is_all_leak():
    p = np.full((2, 2, 2), 1 / 8)
    r = surd(p)
    assert total(r) == pytest.approx(0.0, abs=1e-9)
    assert r.info_leak == pytest.approx(1.0, abs=1e-9)


def test_parts_always_add_up_to_the_mutual_information_of_all_sources():
    rng = np.random.default_rng(3)
    for _ in range(5):
        r = surd(rng.random((3, 3, 2, 4)))
        assert total(r) == pytest.approx(r.total_mutual_information, abs=1e-9)
        assert 0.0 <= r.info_leak <= 1.0


def test_counts_and_probabilities_give_the_same_decomposition_and_input_is_untouched():
    counts = joint(lambda a, b: a & b) * 400
    before = counts.copy()
    assert surd(counts).synergistic == pytest.approx(surd(counts / 400).synergistic)
    np.testing.assert_array_equal(counts, before)


def test_named_parts_use_source_names():
    named = surd(joint(lambda a, b: a & b)).named(["x", "y"])
    assert set(named["unique"]) == {"x", "y"}
    assert named["redundant"]["x+y"] == pytest.approx(0.311, abs=1e-3)
    assert named["synergistic"]["x+y"] == pytest.approx(0.5, abs=1e-6)


def test_samples_are_binned_like_numpy_histogramdd():
    rng = np.random.default_rng(0)
    a, b = rng.random(5000), rng.random(5000)
    target = a + 0.1 * rng.standard_normal(5000)
    from_samples = surd_from_samples(target, [a, b], bins=8)
    hist, _ = np.histogramdd(np.column_stack([target, a, b]), bins=8)
    assert from_samples.unique == surd(hist).unique
    assert from_samples.unique[(0,)] > 0.5
    assert from_samples.unique[(0,)] > 10 * from_samples.unique[(1,)]


def test_binary_samples_of_xor_recover_the_synergy():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 20000), rng.integers(0, 2, 20000)
    r = surd_from_samples(a ^ b, np.column_stack([a, b]), bins=2)
    assert r.synergistic[(0, 1)] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("bad, message", [
    (np.ones(3), "at least one source axis"),
    (np.zeros((2, 2)), "empty"),
    (-np.ones((2, 2)), "non-negative"),
    (np.full((2, 2), np.nan), "finite"),
])
def test_bad_histograms_are_refused_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        surd(bad)


def test_mismatched_sample_counts_are_refused():
    with pytest.raises(ValueError, match="3 target samples but 2"):
        surd_from_samples(np.zeros(3), np.zeros((2, 1)))


def test_undersampled_histogram_warns_and_a_full_one_does_not():
    """The rule: at least MIN_SAMPLES_PER_BIN samples per occupied joint bin on average."""
    import numpy as np

    from redheart_core.analyzers.surd import MIN_SAMPLES_PER_BIN, surd_from_samples

    rng = np.random.default_rng(0)
    sparse = surd_from_samples(rng.random(100), rng.random((100, 3)), bins=4)
    assert sparse.warning is not None and "per occupied bin" in sparse.warning
    # independent noise: a sparse histogram invents information, which is why it warns
    assert sparse.total_mutual_information > 0.5
    dense = surd_from_samples(rng.random(5000), rng.random((5000, 2)), bins=4)
    assert dense.warning is None
    assert 5000 / 64 >= MIN_SAMPLES_PER_BIN


def test_the_per_request_result_carries_the_warning_only_when_undersampled():
    from redheart_core import analyze, load_config

    text = "My friend asked me to lie to cover for him at work."
    few = analyze(text, config=load_config(overrides=[
        "analyzers=[emotion,bentham,surd]", "analyzer_options.surd.samples=50",
        "analyzer_options.surd.bins=8"]))
    assert few.surd is not None and "too few samples for the bins: 50 samples" in few.surd.warning
    assert '"warning"' in few.to_json()
    plenty = analyze(text, config=load_config(overrides=[
        "analyzers=[emotion,bentham,surd]", "analyzer_options.surd.samples=4000",
        "analyzer_options.surd.bins=2"]))
    assert plenty.surd.warning is None
