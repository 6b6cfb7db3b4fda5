"""What the urgency analyzer computes, and that redheart validates and runs it by config."""

import pytest
from omegaconf import OmegaConf

from redheart_core.errors import ConfigError
from redheart_plugin_example.options import UrgencyOptions
from redheart_plugin_example.urgency import UrgencyAnalyzer


def score(text, **options):
    return UrgencyAnalyzer(UrgencyOptions(**options)).analyze_text(text)


def test_calm_text_scores_low_with_no_horizon():
    out = score("We have been thinking about moving to another city at some point.")
    assert out["score"] == 0.0 and out["level"] == "low" and out["horizon_hours"] is None


def test_immediate_pressure_scores_high():
    out = score("URGENT: I have to decide right now, my boss needs the answer immediately!")
    assert out["level"] == "high" and out["horizon_hours"] == 0
    assert {"right now", "immediately", "urgent"} <= set(out["markers"])


def test_pressure_grows_monotonically():
    texts = ["I should decide soon.", "I must decide today.", "I must decide today, right now!"]
    scores = [score(t)["score"] for t in texts]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_nearest_horizon_wins():
    assert score("The deadline is tomorrow, but this week matters too.")["horizon_hours"] == 24


def test_right_now_is_not_also_counted_as_now():
    assert score("right now")["pressure"] == pytest.approx(1.5)


def test_korean_markers():
    out = score("마감이 내일이라 지금 당장 결정해야 한다")
    assert out["horizon_hours"] == 0 and {"마감", "내일", "지금", "당장"} <= set(out["markers"])


def test_extra_markers_add_pressure():
    plain = score("Decide before the board meets.")["score"]
    extra = score("Decide before the board meets.", extra_markers=["before the board meets"])["score"]
    assert plain == 0.0 < extra


def test_half_point_sets_the_midpoint():
    assert score("today today", half_point=2.0)["score"] == pytest.approx(0.5)


def test_invalid_options_name_the_key():
    with pytest.raises(ConfigError, match="analyzer_options.urgency.half_point"):
        UrgencyAnalyzer(UrgencyOptions(half_point=0))


def test_unknown_option_is_rejected_by_the_config():
    from redheart_core import load_config

    with pytest.raises(ConfigError) as info:
        load_config(overrides=["analyzers=[urgency]", "analyzer_options.urgency.halfpoint=3"])
    assert info.value.key == "analyzer_options.urgency.halfpoint"
    assert "half_point" in str(info.value)


def test_config_options_reach_the_analyzer():
    from redheart_core import load_config
    from redheart_core.runtime import Runtime

    cfg = load_config(overrides=["analyzers=[urgency]", "analyzer_options.urgency.half_point=4"])
    (analyzer,) = Runtime(cfg).analyzers
    assert analyzer.half_point == 4.0 and OmegaConf.is_config(cfg)
