"""Bentham, ethics, regret, the per-request SURD and the circuit, on real texts."""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np
import pytest

from redheart_core.analyzers.base import AnalyzerItem
from redheart_core.analyzers.bentham import (BUILTIN_SCENARIOS, Factors, final_score, final_score_in_range,
                                             layers, scores, values)
from redheart_core.analyzers.propagation import SOURCES, propagate
from redheart_core.analyzers.regret import AS_DESCRIBED, regrets
from redheart_core.schema import InitialAnalysis, LOSS_EMOTIONS

from .conftest import GRAVE_LOSS, ORDER, build, run_all
from .ranges import check_outputs

DILEMMA = "My friend asked me to lie to cover for him at work and I don't know what to do."
READING = InitialAnalysis.from_dict({
    "emotions": {"fear": 0.5, "sadness": 0.2, "trust": 0.3},
    "stakeholders": ["me", "my friend", "our manager", "the customers"],
    "scenarios": [
        {"type": "optimistic", "action": "Refuse and help him tell the truth",
         "outcome": "He is relieved and the friendship grows stronger"},
        {"type": "neutral", "action": "Refuse quietly", "outcome": "Nothing changes"},
        {"type": "pessimistic", "action": "Lie for him", "outcome": "We are both caught and fired"},
    ],
    "ethics": ["honesty towards the employer", "loyalty to a friend"],
    "regret_factors": ["losing the friendship"],
})


def test_the_whole_set_stays_in_range_and_loads_into_a_result(analyze):
    for text in (GRAVE_LOSS, DILEMMA):
        out, result = analyze(text)
        check_outputs(out)
        assert result.circuit is not None and result.surd is not None
        assert result.bentham.final_score == out["bentham"]["final_score"]


def test_without_an_llm_reading_the_three_built_in_scenarios_are_scored(analyze):
    out, _ = analyze(DILEMMA)
    assert [s["type"] for s in out["bentham"]["scenarios"]] == [k for k, _ in BUILTIN_SCENARIOS]
    assert [s["type"] for s in out["regret"]["scenarios"]] == [k for k, _ in BUILTIN_SCENARIOS]


def test_the_llm_scenarios_replace_the_built_in_ones_and_are_told_apart(analyze):
    out, _ = analyze(DILEMMA, READING)
    scored = {s["action"]: s["final_score"] for s in out["bentham"]["scenarios"]}
    assert list(scored) == [s.action for s in READING.scenarios]
    assert scored["Refuse and help him tell the truth"] > scored["Lie for him"]
    assert out["regret"]["best_alternative"] != "Lie for him"
    lie = next(s for s in out["regret"]["scenarios"] if s["action"] == "Lie for him")
    assert lie["regret"] > 0.1


def test_a_grave_loss_scores_lower_than_good_news(analyze):
    grave, _ = analyze(GRAVE_LOSS)
    good, _ = analyze("My daughter graduated today and the whole family is celebrating together.")
    assert grave["bentham"]["final_score"] < 0.5 < good["bentham"]["final_score"]
    assert grave["bentham"]["values"]["external_cost"] > good["bentham"]["values"]["external_cost"]
    assert grave["ethics"]["care_harm"] > good["ethics"]["care_harm"]
    assert grave["circuit"]["final_ethical_score"] < good["circuit"]["final_ethical_score"]


def test_the_integrated_primary_of_the_grave_loss_is_a_loss_emotion(analyze):
    out, _ = analyze(GRAVE_LOSS)
    assert out["emotion"]["integrated"]["priority_reversed"] is True
    assert out["emotion"]["integrated"]["primary"] in LOSS_EMOTIONS
    assert any("priority reversed" in line for line in out["circuit"]["reasoning_trace"])


def test_bentham_transforms_and_signs():
    neutral = dict(intensity=0.5, certainty=0.5, extent=0.5, urgency=0.5, permanence=0.5,
                   other_harm=0.0, self_harm=0.0, fairness=0.0, clarity=0.5, purity=0.5)
    good = Factors(valence=0.8, **neutral)
    bad = Factors(valence=-0.8, **neutral)
    assert final_score(good) > 0.5 > final_score(bad)
    harmful = Factors(valence=0.8, **{**neutral, "other_harm": 1.0})
    assert final_score(harmful) < final_score(good)
    # vectorised: arrays of factors score element-wise exactly like scalars
    arrays = Factors(valence=np.array([0.8, -0.8]), **neutral)
    np.testing.assert_allclose(final_score(arrays), [final_score(good), final_score(bad)])
    base, final = scores(values(good), {k: 1.0 for k in ("contextual", "temporal", "social", "ethical",
                                                         "emotional", "cognitive")}, 0.8)
    assert base == pytest.approx(final)  # neutral layers change nothing


def test_the_final_score_of_factors_in_range_is_the_calculus_final_score_bit_for_bit():
    rng = np.random.default_rng(11)
    names = [f.name for f in fields(Factors)]
    drawn = Factors(**{n: rng.uniform(-1.5 if n == "valence" else -0.5, 1.5, 500) for n in names})
    in_range = drawn.clipped()
    np.testing.assert_array_equal(final_score_in_range(in_range), final_score(drawn))
    np.testing.assert_array_equal(final_score_in_range(in_range),
                                  scores(values(drawn), layers(drawn), drawn.valence)[1])


def test_regret_is_how_far_the_best_other_option_beats_each():
    assert regrets([0.2, 0.5, 0.4]) == pytest.approx([0.3, 0.0, 0.1])
    assert regrets([0.5]) == [0.0]


def test_regret_of_the_proposed_course_names_the_best_alternative(analyze):
    out, _ = analyze(GRAVE_LOSS)
    r, b = out["regret"], out["bentham"]
    best = max(s["final_score"] for s in b["scenarios"])
    assert r["anticipated"] == pytest.approx(max(0.0, best - b["final_score"]))
    if r["anticipated"] > 0:
        assert r["best_alternative"] != AS_DESCRIBED


def test_surd_names_its_sources_and_valence_drives_the_score(analyze):
    out, _ = analyze(GRAVE_LOSS)
    s = out["surd"]
    # under the Red Heart model the calculus' layered score is what the sources propagate to
    assert s["sources"] == list(SOURCES) and s["target"] == "base_score" and s["samples"] == 2000
    assert max(s["unique"], key=s["unique"].get) == "valence"
    assert "valence+certainty" in s["redundant"] and "valence+certainty" in s["synergistic"]


def test_monte_carlo_propagation_is_vectorised_and_fast(analyze):
    out, _ = analyze(DILEMMA, names=("emotion", "bentham"))
    analyzer = build("surd")
    item = AnalyzerItem("t", DILEMMA, results=out)
    analyzer.analyze(item)
    start = time.perf_counter()
    for _ in range(5):
        analyzer.analyze(item)
    per_request = (time.perf_counter() - start) / 5
    print(f"\nsurd with 2000 samples: {per_request * 1000:.1f} ms per request")
    assert per_request < 0.5  # a loose bound for a busy shared CPU; the benchmark holds the target


def test_propagation_perturbs_only_the_named_sources_within_their_ranges():
    f = Factors(valence=0.2, intensity=0.5, certainty=0.5, extent=0.5, urgency=0.5, permanence=0.5,
                other_harm=0.3, self_harm=0.1, fairness=0.2, clarity=0.7, purity=0.5)
    noises = np.random.default_rng(7).standard_normal((2, len(SOURCES), 100))
    drawn = propagate([f, f], noises, 0.15)
    assert drawn.shape == (2, 100, 1 + len(SOURCES))
    assert np.all((drawn[..., 0] > 0) & (drawn[..., 0] < 1))
    assert np.all(np.abs(drawn[..., 1]) <= 1) and np.all((drawn[..., 2:] >= 0) & (drawn[..., 2:] <= 1))
    assert drawn[0, :, 1].std() > drawn[0, :, 2].std()  # valence moves twice as far
    np.testing.assert_array_equal(drawn[0, :, 0], propagate([f], noises[:1], 0.15)[0, :, 0])


def test_a_batch_gives_each_item_the_decomposition_it_gets_alone(analyze):
    from redheart_core.analyzers.propagation import SurdAnalyzer

    items = []
    for text in (DILEMMA, GRAVE_LOSS):
        out, _ = analyze(text, names=("emotion", "bentham"))
        items.append(AnalyzerItem("t", text, results=out))
    analyzer = SurdAnalyzer()
    assert analyzer.analyze_batch(items) == [analyzer.analyze(item) for item in items]


def test_surd_depends_on_the_config_seed(analyze):
    out, _ = analyze(DILEMMA, names=("emotion", "bentham"))
    item = AnalyzerItem("t", DILEMMA, results=out)
    from redheart_core.analyzers.propagation import SurdAnalyzer
    from redheart_core.analyzers.options import SurdOptions

    same = SurdAnalyzer(SurdOptions(), seed=0).analyze(item), SurdAnalyzer(SurdOptions(), seed=0).analyze(item)
    assert same[0] == same[1]
    assert SurdAnalyzer(SurdOptions(), seed=1).analyze(item) != same[0]


def test_same_text_and_config_give_identical_results_in_fresh_analyzers():
    first = run_all({name: build(name) for name in ORDER}, GRAVE_LOSS, READING)[0]
    second = run_all({name: build(name) for name in ORDER}, GRAVE_LOSS, READING)[0]
    assert first == second


def test_korean_text_goes_through_every_analyzer(analyze):
    out, _ = analyze("회사 공장 폭발로 우리 마을 사람들이 많이 죽었다. 나는 작은 보너스를 받았다.")
    check_outputs(out)


def test_circuit_runs_seven_stages_stores_the_decision_and_recalls_it(analyzers):
    circuit = build("circuit")
    upstream = ("emotion", "bentham", "ethics", "regret")
    out, _ = run_all({**analyzers, "circuit": circuit}, GRAVE_LOSS, names=upstream + ("circuit",))
    trace = out["circuit"]["reasoning_trace"]
    assert [line.split(" ")[0] for line in trace[:7]] == [str(i) for i in range(1, 8)]
    assert out["circuit"]["experience_matches"] == []
    assert circuit.store.count() == 1
    again, _ = run_all({**analyzers, "circuit": circuit}, GRAVE_LOSS.replace("twelve", "eleven"),
                       names=upstream + ("circuit",))
    matches = again["circuit"]["experience_matches"]
    assert len(matches) == 1 and matches[0]["similarity"] > 0.9
    assert matches[0]["final_ethical_score"] == pytest.approx(out["circuit"]["final_ethical_score"])
    assert "1 experience: 1 similar past decision" in again["circuit"]["reasoning_trace"][0]


def test_circuit_without_store_writes_nothing(analyzers):
    circuit = build("circuit", store=False)
    run_all({**analyzers, "circuit": circuit}, DILEMMA)
    assert circuit.store.count() == 0
