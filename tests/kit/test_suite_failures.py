"""The suites fail, each with a message saying what to fix, for plugins that break the contract.

Each broken plugin runs through the kit in a separate pytest process, exactly as its author
would run it; the test reads the per-test outcomes from the JUnit XML report and the failure
text from the output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

BROKEN_PLUGINS = '''
from redheart_core import hookimpl
from redheart_core.llm import LLMBackend, LLMResponse
from redheart_core.memory.strategies import MemoryStrategy


class Dropper:
    """Loses the last item of every batch of two or more."""

    requires = ()

    def analyze_batch(self, items):
        kept = items[: len(items) - 1] if len(items) > 1 else items
        return [{"chars": len(item.text)} for item in kept]


class NumpyLeaker:
    requires = ()

    def analyze_batch(self, items):
        import numpy as np

        return [{"score": np.float32(len(item.text) % 7) / 7} for item in items]


class Snooper:
    """Reads the emotion analyzer's output without declaring requires=("emotion",)."""

    requires = ()

    def analyze_batch(self, items):
        return [{"sad": bool((item.results.get("emotion") or {}).get("primary") == "sadness")}
                for item in items]


class AnalyzerPlugin:
    def __init__(self, name, cls):
        self.name, self.cls = name, cls

    @hookimpl
    def redheart_register_analyzers(self, register):
        register(self.name, lambda options: self.cls(), description="broken on purpose")


class OnceClosable(LLMBackend):
    """Answers, but raises when closed a second time."""

    def __init__(self):
        self.open = True

    async def complete(self, request):
        return LLMResponse(text="fine")

    async def aclose(self):
        if not self.open:
            raise RuntimeError("already closed")
        self.open = False


class BackendPlugin:
    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("once", lambda options: OnceClosable(), description="closes once")


class Greedy(MemoryStrategy):
    """Keeps everything resident and never admits that it does not fit."""

    name = "greedy"
    description = "everything resident, no questions asked"
    keeps_all = True

    def problems(self, footprints, budget):
        return []


class StrategyPlugin:
    @hookimpl
    def redheart_register_memory_strategies(self, register):
        register("greedy", lambda options: Greedy(), description=Greedy.description)
'''

BROKEN_TESTS = '''
import broken_plugins as bp
from redheart_core.testing import (AnalyzerConformance, LLMBackendConformance,
                                   MemoryStrategyConformance)


class TestDropper(AnalyzerConformance):
    plugin_name = "dropper"
    plugin = bp.AnalyzerPlugin("dropper", bp.Dropper)


class TestNumpyLeaker(AnalyzerConformance):
    plugin_name = "numpy_leaker"
    plugin = bp.AnalyzerPlugin("numpy_leaker", bp.NumpyLeaker)


class TestSnooper(AnalyzerConformance):
    plugin_name = "snooper"
    plugin = bp.AnalyzerPlugin("snooper", bp.Snooper)


class TestOnce(LLMBackendConformance):
    plugin_name = "once"
    plugin = bp.BackendPlugin()


class TestGreedy(MemoryStrategyConformance):
    plugin_name = "greedy"
    plugin = bp.StrategyPlugin()
'''


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory) -> tuple[dict[str, str], str]:
    """Run the kit over the broken plugins once: (test id -> outcome, pytest's output)."""
    root = tmp_path_factory.mktemp("broken")
    (root / "broken_plugins.py").write_text(textwrap.dedent(BROKEN_PLUGINS))
    (root / "test_broken.py").write_text(textwrap.dedent(BROKEN_TESTS))
    report = root / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short",
         f"--junitxml={report}", "test_broken.py"],
        cwd=root, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(root)})
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[name] = kinds[0] if kinds else "passed"
    return outcomes, proc.stdout + proc.stderr


def failed(outcomes: dict[str, str], cls: str) -> set[str]:
    return {name.split("::")[1] for name, outcome in outcomes.items()
            if name.startswith(cls + "::") and outcome in ("failure", "error")}


def test_an_analyzer_that_drops_items_fails_with_a_clear_message(broken_run):
    outcomes, output = broken_run
    assert "test_one_json_dict_per_item_in_order" in failed(outcomes, "TestDropper"), output
    assert "analyze_batch returned 2 results for 3 items" in output
    assert "never drop or merge items" in output
    assert outcomes["TestDropper::test_empty_batch_returns_empty_list"] == "passed"
    assert outcomes["TestDropper::test_registered_exactly_once_under_its_name"] == "passed"


def test_every_check_that_sees_a_short_batch_fails(broken_run):
    outcomes, _ = broken_run
    assert {"test_one_json_dict_per_item_in_order", "test_unicode_and_emoji_text",
            "test_ten_thousand_character_text", "test_works_with_and_without_the_llm_reading"} \
        <= failed(outcomes, "TestDropper")


def test_numpy_values_fail_with_the_fix(broken_run):
    outcomes, output = broken_run
    assert "test_one_json_dict_per_item_in_order" in failed(outcomes, "TestNumpyLeaker")
    assert "numpy.float32" in output and "convert it to plain Python" in output


def test_reading_an_undeclared_requirement_fails_naming_it(broken_run):
    outcomes, output = broken_run
    assert failed(outcomes, "TestSnooper") == {"test_reads_only_what_it_requires"}, output
    assert "reads item.results['emotion'] without declaring it" in output
    assert "requires=('emotion',)" in output


def test_a_strategy_that_overruns_the_budget_fails(broken_run):
    outcomes, output = broken_run
    assert "test_budget_respected_in_every_phase[cuda]" in failed(outcomes, "TestGreedy"), output
    assert "targets() must fit within budget.limit_bytes" in output
    assert "test_a_phase_that_cannot_fit_is_refused_with_a_reason" in failed(outcomes, "TestGreedy")


def test_a_backend_that_cannot_close_twice_fails(broken_run):
    outcomes, output = broken_run
    assert failed(outcomes, "TestOnce") == {"test_aclose_is_idempotent"}, output
    assert "make aclose() safe to repeat" in output


def test_a_correct_plugin_passes_in_the_same_harness(broken_run):
    outcomes, _ = broken_run
    assert outcomes["TestSnooper::test_empty_batch_returns_empty_list"] == "passed"
    assert outcomes["TestGreedy::test_targets_are_known_modules_highest_priority_first"] == "passed"
