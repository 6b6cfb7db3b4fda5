"""Emotion: accuracy on a labelled set, three levels, integration and priority reversal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redheart_core.analyzers.base import AnalyzerItem
from redheart_core.analyzers.emotion import describe, integrate, load_exemplars
from redheart_core.schema import EMOTIONS, LOSS_EMOTIONS, InitialAnalysis

from .conftest import GRAVE_LOSS, build

EVAL = Path(__file__).parent / "data" / "emotion_eval.jsonl"


def eval_set() -> list[dict]:
    return [json.loads(line) for line in EVAL.read_text("utf-8").splitlines() if line.strip()]


def test_eval_set_is_large_balanced_and_shares_no_sentence_with_the_exemplars():
    rows = eval_set()
    assert len(rows) >= 50
    assert {r["label"] for r in rows} == set(EMOTIONS)
    exemplars = {t.lower().strip(" .!") for texts in load_exemplars().values() for t in texts}
    assert not [r["text"] for r in rows if r["text"].lower().strip(" .!") in exemplars]


def test_top1_accuracy_on_the_labelled_english_set_is_at_least_0_85(analyzers):
    rows = eval_set()
    items = [AnalyzerItem(str(i), r["text"]) for i, r in enumerate(rows)]
    outputs = analyzers["emotion"].analyze_batch(items)
    hits = [o["primary"] == r["label"] for o, r in zip(outputs, rows)]
    accuracy = float(np.mean(hits))
    print(f"\nemotion top-1 accuracy on {len(rows)} labelled sentences: {accuracy:.3f}")
    assert accuracy >= 0.85


def test_distribution_is_canonical_and_sums_to_one(analyze):
    out, _ = analyze("The storm destroyed our neighbour's house.", names=("emotion",))
    emotion = out["emotion"]
    assert list(emotion["distribution"]) == list(EMOTIONS)
    assert sum(emotion["distribution"].values()) == pytest.approx(1.0)
    for level in emotion["levels"].values():
        assert list(level["distribution"]) == list(EMOTIONS)
        assert sum(level["distribution"].values()) == pytest.approx(1.0)


def test_grave_community_loss_reverses_a_small_personal_gain(analyze):
    out, _ = analyze(GRAVE_LOSS, names=("emotion",))
    levels, integrated = out["emotion"]["levels"], out["emotion"]["integrated"]
    assert levels["self"]["primary"] == "joy"
    assert levels["community"]["primary"] in LOSS_EMOTIONS
    assert integrated["critical_loss"] is True
    assert integrated["priority_reversed"] is True
    assert integrated["primary"] in LOSS_EMOTIONS
    assert integrated["weights"]["community"] > 0.5  # weight shifted to the critical level
    assert sum(integrated["weights"].values()) == pytest.approx(1.0)


def test_plain_personal_joy_keeps_the_base_weights_and_no_reversal(analyze):
    out, _ = analyze("I passed my driving test this morning and I am thrilled!", names=("emotion",))
    integrated = out["emotion"]["integrated"]
    assert integrated == {"primary": "joy", "weights": pytest.approx({"self": .2, "other": .3, "community": .5}),
                          "critical_loss": False, "priority_reversed": False}


def test_each_level_reads_the_clauses_that_speak_of_it(analyze):
    out, _ = analyze("I am furious at the landlord. My sister is terrified of being evicted.",
                     names=("emotion",))
    levels = out["emotion"]["levels"]
    assert levels["self"]["primary"] == "anger"
    assert levels["other"]["primary"] == "fear"


def test_the_llm_reading_is_blended_into_the_distribution(analyzers):
    text = "It happened yesterday."
    plain = analyzers["emotion"].analyze_batch([AnalyzerItem("a", text)])[0]
    initial = InitialAnalysis(emotions={"fear": 0.9, "sadness": 0.1})
    read = analyzers["emotion"].analyze_batch([AnalyzerItem("a", text, initial=initial)])[0]
    assert read["distribution"]["fear"] > plain["distribution"]["fear"] + 0.3


def test_a_uniform_llm_reading_says_nothing_and_changes_nothing(analyzers):
    text = "We won the final!"
    plain = analyzers["emotion"].analyze_batch([AnalyzerItem("a", text)])[0]
    uniform = InitialAnalysis(emotions={label: 0.1 for label in EMOTIONS})
    read = analyzers["emotion"].analyze_batch([AnalyzerItem("a", text, initial=uniform)])[0]
    assert read["primary"] == plain["primary"]
    assert read["distribution"] == pytest.approx(plain["distribution"], abs=1e-6)


def test_an_unusable_llm_reading_is_ignored(analyzers):
    text = "We won the final!"
    plain = analyzers["emotion"].analyze_batch([AnalyzerItem("a", text)])[0]
    junk = InitialAnalysis(emotions={"joy": float("nan"), "anger": -3.0, "pride": 5.0})
    assert analyzers["emotion"].analyze_batch([AnalyzerItem("a", text, initial=junk)])[0] == plain


def test_vad_follows_the_distribution():
    joyful = describe(np.array([0.94, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]))
    sad = describe(np.array([0.01, 0.01, 0.01, 0.01, 0.94, 0.01, 0.01]))
    assert joyful["valence"] > 0.8 and sad["valence"] < -0.8
    assert sad["arousal"] < joyful["arousal"]
    assert joyful["intensity"] >= 5 and 0 < joyful["confidence"] <= 1
    flat = describe(np.full(7, 1 / 7))
    assert flat["confidence"] == pytest.approx(0.0, abs=1e-6) and flat["intensity"] <= 3


def test_a_loss_without_evidence_in_the_text_is_not_critical():
    sad = describe(np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]), intensifiers=3)
    happy = describe(np.array([1.0, 0, 0, 0, 0, 0, 0]))
    levels = {"self": happy, "other": sad, "community": sad}
    assert integrate(levels, {"self": True, "other": False, "community": False})["critical_loss"] is False
    assert integrate(levels, {"self": True, "other": False, "community": True})["priority_reversed"] is True


def test_korean_text_is_analysed_without_error(analyze):
    out, _ = analyze("친구가 회사에서 거짓말을 해 달라고 했다. 나는 어떻게 해야 할지 모르겠다.", names=("emotion",))
    assert out["emotion"]["primary"] in EMOTIONS
    assert sum(out["emotion"]["distribution"].values()) == pytest.approx(1.0)


def test_same_text_gives_identical_output(analyzers):
    a = analyzers["emotion"].analyze_batch([AnalyzerItem("a", GRAVE_LOSS)])[0]
    b = build("emotion").analyze_batch([AnalyzerItem("b", GRAVE_LOSS)])[0]
    assert a == b


def test_a_batch_gives_the_same_outputs_as_one_at_a_time(analyzers):
    texts = ["I am scared of the dark.", GRAVE_LOSS, "What a lovely surprise!"]
    together = analyzers["emotion"].analyze_batch([AnalyzerItem(str(i), t) for i, t in enumerate(texts)])
    alone = [analyzers["emotion"].analyze_batch([AnalyzerItem("x", t)])[0] for t in texts]
    for x, y in zip(together, alone):
        assert x["primary"] == y["primary"]
        assert x["distribution"] == pytest.approx(y["distribution"], abs=1e-5)


def test_the_heuristic_prototypes_temperature_is_calibrated_on_the_exemplars():
    temperature = build("emotion", method="heuristic").classifier.temperature
    assert 0.005 < temperature < 0.5
    assert build("emotion", method="heuristic", temperature=0.2).classifier.temperature == 0.2


def test_a_very_long_text_is_read_in_a_bounded_number_of_clauses(analyzers):
    from redheart_core.analyzers.text_cues import MAX_CLAUSES

    text = " ".join(f"Sentence {i} says I am glad." for i in range(500)) + " But our town is grieving."
    plan = analyzers["emotion"]._plan(text)
    assert len(plan.clauses) == MAX_CLAUSES
    assert sum(cl["community"] for cl in plan.clause_levels) >= 1
