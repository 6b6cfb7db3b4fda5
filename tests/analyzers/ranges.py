"""Every number an analyzer returns, checked against its documented range."""

from __future__ import annotations

import math
from typing import Any

from redheart_core.schema import BENTHAM_DIMENSIONS, BENTHAM_LAYERS, EMOTIONS, FOUNDATIONS, LEVELS


def _in(value: Any, low: float, high: float, where: str) -> None:
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r}"
    assert math.isfinite(value) and low - 1e-9 <= value <= high + 1e-9, f"{where} = {value} not in {low}..{high}"


def check_level(level: dict, where: str) -> None:
    assert list(level["distribution"]) == list(EMOTIONS)
    for label, p in level["distribution"].items():
        _in(p, 0, 1, f"{where}.distribution.{label}")
    assert abs(sum(level["distribution"].values()) - 1) < 1e-6
    assert level["primary"] in EMOTIONS
    for key in ("valence", "arousal", "dominance"):
        _in(level[key], -1, 1, f"{where}.{key}")
    assert isinstance(level["intensity"], int) and 1 <= level["intensity"] <= 6
    _in(level["confidence"], 0, 1, f"{where}.confidence")


def check_outputs(out: dict[str, dict]) -> None:
    if "emotion" in out:
        e = out["emotion"]
        check_level(e, "emotion")
        for lv in LEVELS:
            check_level(e["levels"][lv], f"emotion.levels.{lv}")
        w = e["integrated"]["weights"]
        assert set(w) == set(LEVELS) and abs(sum(w.values()) - 1) < 1e-9
        for lv, v in w.items():
            _in(v, 0, 1, f"weights.{lv}")
        assert e["integrated"]["primary"] in EMOTIONS
    if "bentham" in out:
        b = out["bentham"]
        assert list(b["values"]) == list(BENTHAM_DIMENSIONS)
        for k, v in b["values"].items():
            _in(v, 0, 1, f"bentham.values.{k}")
        assert list(b["layers"]) == list(BENTHAM_LAYERS)
        for k, v in b["layers"].items():
            _in(v, 0.75, 1.25, f"bentham.layers.{k}")
        for key in ("base_score", "final_score", "confidence"):
            _in(b[key], 0, 1, f"bentham.{key}")
        assert b["scenarios"]
        for s in b["scenarios"]:
            _in(s["final_score"], 0, 1, "bentham.scenarios.final_score")
    if "ethics" in out:
        assert list(out["ethics"]) == list(FOUNDATIONS)
        for k, v in out["ethics"].items():
            _in(v, 0.1, 0.9, f"ethics.{k}")
    if "regret" in out:
        r = out["regret"]
        for key in ("anticipated", "experienced", "intensity", "confidence"):
            _in(r[key], 0, 1, f"regret.{key}")
        _in(r["duration_hours"], 0, 168, "regret.duration_hours")
        for s in r["scenarios"]:
            _in(s["utility"], 0, 1, "regret.scenarios.utility")
            _in(s["regret"], 0, 1, "regret.scenarios.regret")
    if "surd" in out:
        s = out["surd"]
        n = len(s["sources"])
        for part in ("unique", "redundant", "synergistic"):
            for k, v in s[part].items():
                _in(v, 0, math.log2(4), f"surd.{part}.{k}")  # at most H(target) <= log2(bins)
        _in(s["mutual_information"], 0, 2, "surd.mutual_information")
        _in(s["info_leak"], 0, 1, "surd.info_leak")
        assert len(s["unique"]) == n
        total = sum(s["unique"].values()) + sum(s["redundant"].values()) + sum(s["synergistic"].values())
        assert abs(total - s["mutual_information"]) < 1e-6
    if "circuit" in out:
        c = out["circuit"]
        _in(c["final_ethical_score"], 0, 1, "circuit.final_ethical_score")
        _in(c["confidence"], 0, 1, "circuit.confidence")
        assert len(c["reasoning_trace"]) >= 8
        for m in c["experience_matches"]:
            _in(m["similarity"], -1, 1, "circuit.experience_matches.similarity")
