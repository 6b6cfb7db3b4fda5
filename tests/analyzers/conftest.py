"""Analyzers built directly (not through the pipeline), sharing one embedder per session."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from omegaconf import OmegaConf

from redheart_core.analyzers import options as opts
from redheart_core.analyzers import plugin
from redheart_core.analyzers.base import AnalyzerItem
from redheart_core.schema import AnalysisResult, InitialAnalysis

ORDER = ("emotion", "bentham", "ethics", "regret", "surd", "circuit")
OPTIONS = {"emotion": opts.EmotionOptions, "bentham": opts.BenthamOptions, "ethics": opts.EthicsOptions,
           "regret": opts.RegretOptions, "surd": opts.SurdOptions, "circuit": opts.CircuitOptions}
FACTORIES = {"emotion": plugin.make_emotion, "bentham": plugin.make_bentham, "ethics": plugin.make_ethics,
             "regret": plugin.make_regret, "surd": plugin.make_surd, "circuit": plugin.make_circuit}

GRAVE_LOSS = ("I got a small bonus at work this week. But the factory explosion killed twelve people "
              "in our town and the whole community is grieving.")


def build(name: str, **values: Any) -> Any:
    """An analyzer from its factory, with options validated as a config would be."""
    node = OmegaConf.merge(OmegaConf.structured(OPTIONS[name]), values)
    return FACTORIES[name](node)


@pytest.fixture(scope="session")
def embedder():
    from redheart_core.analyzers.embedder import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def analyzers(embedder) -> dict[str, Any]:
    return {name: build(name) for name in ORDER}


def run_all(analyzers: dict[str, Any], text: str, initial: InitialAnalysis | None = None,
            names: tuple[str, ...] = ORDER) -> tuple[dict[str, dict], AnalysisResult]:
    """Every analyzer in dependency order on one item; outputs also loaded into a result."""
    results: dict[str, dict] = {}
    result = AnalysisResult(request_id="t", text=text)
    for name in names:
        item = AnalyzerItem("t", text, initial=initial, results=dict(results))
        out = analyzers[name].analyze_batch([item])[0]
        results[name] = out
        result.set_analyzer_output(name, out)
    return results, result


@pytest.fixture
def analyze(analyzers) -> Callable[..., tuple[dict[str, dict], AnalysisResult]]:
    def run(text: str, initial: InitialAnalysis | None = None, **kw: Any):
        return run_all(analyzers, text, initial, **kw)

    return run
