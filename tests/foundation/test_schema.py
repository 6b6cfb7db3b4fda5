"""AnalysisResult: the contract's field names and a lossless JSON round trip."""

from __future__ import annotations

import json

import pytest

from redheart_core.schema import (EMOTIONS, AnalysisResult, BenthamPart, CircuitPart, EmotionPart,
                                  InitialAnalysis, Scenario)


def full_result() -> AnalysisResult:
    dist = {e: 1 / 7 for e in EMOTIONS}
    level = {"distribution": dist, "primary": "joy", "valence": 0.1, "arousal": 0.2,
             "dominance": -0.1, "intensity": 3, "confidence": 0.5}
    r = AnalysisResult(request_id="r1", text="a situation", language="ko", translated_text="t")
    r.llm.initial = InitialAnalysis(emotions=dist, stakeholders=["me"],
                                    scenarios=[Scenario("optimistic", "help", "good", "kind")],
                                    ethics=["care"], regret_factors=["late"])
    r.llm.summary = "summary"
    r.set_analyzer_output("emotion", {**level, "levels": {"self": level, "other": level, "community": level},
                                      "integrated": {"primary": "sadness", "weights": {"self": .2, "other": .3,
                                                     "community": .5}, "critical_loss": True,
                                                     "priority_reversed": True}})
    r.set_analyzer_output("bentham", {"values": {"intensity": .5}, "layers": {"social": 1.0},
                                      "base_score": .4, "final_score": .6, "confidence": .7,
                                      "scenarios": [{"type": "neutral", "action": "wait", "final_score": .3}]})
    r.set_analyzer_output("ethics", {"care_harm": .8, "fairness": .5})
    r.set_analyzer_output("regret", {"anticipated": .2, "experienced": .1, "intensity": .3,
                                     "duration_hours": 5.0, "best_alternative": "help",
                                     "scenarios": [{"type": "neutral", "action": "wait", "utility": .4,
                                                    "regret": .1}], "confidence": .6})
    r.set_analyzer_output("surd", {"target": "final_score", "sources": ["a", "b"], "unique": {"a": .1},
                                   "redundant": {"a+b": .2}, "synergistic": {"a+b": .3},
                                   "mutual_information": .6, "info_leak": .4, "samples": 2000})
    r.set_analyzer_output("circuit", {"final_ethical_score": .55, "confidence": .8,
                                      "reasoning_trace": ["step"], "experience_matches": []})
    r.set_analyzer_output("wordcount", {"words": 3})
    r.timings_ms = {"prepare": 1.0, "total": 2.0}
    r.provenance.models = {"embedder": "all-MiniLM-L6-v2"}
    r.add_error("llm_final", TimeoutError("took too long"))
    return r


def test_json_round_trip_is_lossless():
    r = full_result()
    again = AnalysisResult.from_json(r.to_json())
    assert again == r
    assert isinstance(again.emotion, EmotionPart) and isinstance(again.bentham, BenthamPart)
    assert isinstance(again.circuit, CircuitPart)


def test_contract_field_names_are_present():
    data = json.loads(full_result().to_json())
    assert data["schema_version"] == "1"
    for key in ("request_id", "text", "language", "translated_text", "llm", "emotion", "bentham",
                "ethics", "regret", "surd", "circuit", "timings_ms", "memory", "provenance", "errors"):
        assert key in data
    assert set(data["llm"]) >= {"backend", "model", "initial", "summary"}
    assert set(data["memory"]) == {"strategy", "device", "peak_gpu_bytes", "swaps"}
    assert set(data["provenance"]) == {"config_hash", "plugins", "models"}
    assert data["errors"] == [{"stage": "llm_final", "type": "TimeoutError", "message": "took too long"}]


def test_unknown_analyzers_land_in_extras():
    assert full_result().extras == {"wordcount": {"words": 3}}


def test_an_analyzer_output_of_the_wrong_shape_fails_loudly():
    r = AnalysisResult(request_id="r", text="t")
    with pytest.raises(ValueError, match="bentham: unknown field"):
        r.set_analyzer_output("bentham", {"values": {}, "layers": {}, "base_score": 0.1, "final_score": 0.1,
                                          "confidence": 0.1, "colour": "red"})
    with pytest.raises(ValueError, match="circuit.final_ethical_score: expected a number"):
        r.set_analyzer_output("circuit", {"final_ethical_score": "high", "confidence": 1.0,
                                          "reasoning_trace": []})
