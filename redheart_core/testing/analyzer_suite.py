"""``AnalyzerConformance``: the contract every analyzer keeps, as pytest tests.

An author writes::

    from redheart_core.testing import AnalyzerConformance

    class TestUrgency(AnalyzerConformance):
        plugin_name = "urgency"
        options = {"half_point": 2.0}

and gets one test per rule below. The suite builds the analyzer from a config that names it
(and the analyzers it ``requires``), feeds it items shaped as the pipeline shapes them (the
shared embedder's vectors, the outputs of its requirements) and checks what comes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Iterator, Sequence

import pytest

from ..analyzers.base import Analyzer, AnalyzerItem
from ..capabilities import HasModules, HasProvenance, HasStage
from ..config import analyzer_order
from ..errors import ConfigError
from ..phases import ANALYZER_STAGES, Stage
from ..plugins import PluginRegistry, Registration
from ..runtime import Runtime
from ..schema import EMOTIONS, AnalysisResult, InitialAnalysis, Scenario
from .plugin_suite import PluginConformance, approx_equal, json_problem

SITUATIONS: tuple[str, ...] = (
    "My friend asked me to lie to cover for him at work. If I refuse, he may lose his job, "
    "but if I agree I deceive my manager, who trusts me.",
    "The city council wants to close the only park in our neighbourhood to build a parking "
    "lot that would bring jobs and shoppers.",
    "I found a wallet with 300 dollars and an ID card on the bus this morning, and my rent is "
    "due tomorrow.",
)
UNICODE_SITUATION = (
    "친구가 회사에서 자기를 감싸 달라고 거짓말을 부탁했다. 거절하면 그가 해고될 수도 있다 😟🙏 "
    "— Ça m'inquiète. Ünïcödé “quotes”, tabs\tand\nnewlines, 𝔪𝔞𝔱𝔥 and 👨‍👩‍👧 families."
)
LONG_LENGTH = 10_000


def long_situation(length: int = LONG_LENGTH) -> str:
    """A ``length``-character situation made of varied sentences (no single repeated token)."""
    parts: list[str] = []
    i = 0
    while sum(map(len, parts)) < length:
        parts.append(f"{SITUATIONS[i % len(SITUATIONS)]} (paragraph {i}) ")
        i += 1
    return "".join(parts)[:length]


def sample_reading() -> InitialAnalysis:
    """An LLM initial reading of the first situation, as a backend would return it."""
    return InitialAnalysis(
        emotions={"joy": 0.05, "trust": 0.2, "fear": 0.35, "surprise": 0.05, "sadness": 0.15,
                  "disgust": 0.05, "anger": 0.15},
        stakeholders=["me", "my friend", "my manager", "the team"],
        scenarios=[
            Scenario("optimistic", "refuse and help him tell the truth", "he keeps his job",
                     "honesty preserved"),
            Scenario("neutral", "refuse", "he is disciplined", "honest but costly to him"),
            Scenario("pessimistic", "lie for him", "both are fired when it comes out",
                     "deception harms trust"),
        ],
        ethics=["honesty", "loyalty"],
        regret_factors=["friendship", "job security"],
    )


class DeclaredResults(Mapping):
    """The outputs an analyzer may read, recording every name it asks for.

    The pipeline hands an analyzer the outputs of what it ``requires``; asking for anything
    else works only by accident of ordering, so the suite records it and fails the check.
    """

    def __init__(self, results: Mapping[str, dict[str, Any]], declared: Sequence[str]):
        self._results = {k: v for k, v in results.items() if k in declared}
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> dict[str, Any]:
        self.asked.add(key)
        return self._results[key]

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return key in self._results

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self._results.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


class AnalyzerConformance(PluginConformance):
    """The analyzer contract. Subclass as ``Test...`` and set ``plugin_name`` (and ``options``).

    Set ``plugin`` to a module or object with hookimpls to register it in-process for the
    class instead of installing a distribution.
    """

    kind: ClassVar[str] = "analyzers"

    # ------------------------------------------------------------------ fixtures
    @classmethod
    def config_patch(cls, registration: Registration, plugin_options: dict[str, Any]) -> dict[str, Any]:
        chain = cls.required_chain(registration)
        return {"llm": {"backend": "none"}, "analyzers": chain,
                "analyzer_options": {cls.plugin_name: plugin_options} if plugin_options else {}}

    @classmethod
    def required_chain(cls, registration: Registration) -> list[str]:
        """This analyzer and, transitively, what it requires (requirements first)."""
        from ..plugins import get_registry

        registry = get_registry(cls.disabled)
        seen: list[str] = []

        def visit(name: str) -> None:
            if name in seen:
                return
            reg = registry.get("analyzers", name, f"requires of {cls.plugin_name!r}")
            for req in reg.requires:
                visit(req)
            seen.append(name)

        visit(registration.name)
        return seen

    @pytest.fixture(scope="class")
    @classmethod
    def analyzer(cls, runtime: Runtime) -> Analyzer:
        built = dict(zip(runtime.analyzer_names, runtime.analyzers))
        return built[cls.plugin_name]

    @pytest.fixture(scope="class")
    @classmethod
    def analyze(cls, runtime: Runtime, analyzer: Analyzer) -> Callable[..., list[Any]]:
        """``analyze(texts, initial=None, fresh=False)``: the analyzer's outputs, in order.

        ``fresh=True`` builds a new runtime from the same config first, so state an analyzer
        keeps in shared services (the experience store remembers every decision) starts empty:
        the same config and texts must then give the same outputs.
        """

        def run(texts: Sequence[str], initial: InitialAnalysis | None = None, *,
                fresh: bool = False, tracker: list[DeclaredResults] | None = None) -> list[Any]:
            rt = Runtime(runtime.config, runtime.registry) if fresh else runtime
            built = dict(zip(rt.analyzer_names, rt.analyzers))
            target = built[cls.plugin_name] if fresh else analyzer
            items = cls.make_items(rt, texts, initial)
            for name in rt.analyzer_names:
                if name == cls.plugin_name:
                    continue
                outputs = built[name].analyze_batch(items)
                assert isinstance(outputs, list) and len(outputs) == len(items), (
                    f"required analyzer {name!r} returned a wrong batch; fix it first")
                for item, out in zip(items, outputs):
                    item.results = {**item.results, name: out}
            requires = tuple(target.requires or ())
            for item in items:
                declared = DeclaredResults(item.results, requires)
                item.results = declared
                if tracker is not None:
                    tracker.append(declared)
            return target.analyze_batch(items)

        return run

    @staticmethod
    def make_items(runtime: Runtime, texts: Sequence[str],
                   initial: InitialAnalysis | None = None) -> list[AnalyzerItem]:
        """Items as the pipeline's prepare stage makes them: language, shared-embedder vector."""
        from ..pipeline.stages import detect_language

        texts = list(texts)
        vectors = runtime.embedder.encode(texts) if texts else None
        return [AnalyzerItem(request_id=f"kit-{i}", text=text, language=detect_language(text),
                             embedding=None if vectors is None else vectors[i], initial=initial)
                for i, text in enumerate(texts)]

    def check_batch(self, outputs: Any, n: int, what: str) -> None:
        __tracebackhide__ = True  # report the failing check, not this helper
        assert isinstance(outputs, list), (
            f"analyze_batch returned a {type(outputs).__name__} for {what}; it must return a "
            "list with one dict per item")
        assert len(outputs) == n, (
            f"analyze_batch returned {len(outputs)} results for {n} items ({what}): it must "
            "return exactly one dict per item, in the order given; never drop or merge items "
            "(an item it cannot score still needs its own entry)")
        for i, out in enumerate(outputs):
            assert isinstance(out, dict), (
                f"result {i} of analyze_batch ({what}) is a {type(out).__name__}, not a dict; "
                "return one dict per item")
            problem = json_problem(out, f"result {i}")
            assert problem is None, f"{problem} ({what}); outputs must be JSON-serialisable"
            json.dumps(out)

    # ------------------------------------------------------------------ checks
    def test_factory_builds_an_analyzer(self, analyzer: Analyzer, registration: Registration) -> None:
        assert isinstance(analyzer, Analyzer), (
            f"the factory of {registration.label} returned {type(analyzer).__name__}, which "
            "does not keep the Analyzer contract (redheart_core.analyzers.base.Analyzer: name, "
            "requires and analyze_batch(items))")
        assert analyzer.name == self.plugin_name, (
            f"the built analyzer's name is {analyzer.name!r}; leave `name` "
            f"assignable so the runtime can set it to {self.plugin_name!r}")

    def test_one_json_dict_per_item_in_order(self, analyze: Callable[..., list[Any]]) -> None:
        outputs = analyze(SITUATIONS, fresh=True)
        self.check_batch(outputs, len(SITUATIONS), f"a batch of {len(SITUATIONS)} situations")
        for i, text in enumerate(SITUATIONS):
            single = analyze([text], fresh=True)
            self.check_batch(single, 1, "a batch of one")
            assert approx_equal(outputs[i], single[0]), (
                f"item {i} analysed in a batch gave {outputs[i]!r} but alone gave {single[0]!r}: "
                "results must come back in the order of the items and must not depend on the "
                "other items of the batch")

    def test_empty_batch_returns_empty_list(self, analyze: Callable[..., list[Any]]) -> None:
        outputs = analyze([])
        assert outputs == [], (
            f"analyze_batch([]) returned {outputs!r}; return [] for an empty batch (the "
            "pipeline may flush an empty micro-batch)")

    def test_unicode_and_emoji_text(self, analyze: Callable[..., list[Any]]) -> None:
        outputs = analyze([UNICODE_SITUATION, SITUATIONS[0]])
        self.check_batch(outputs, 2, "Korean text with emoji, combining marks and control characters")

    def test_ten_thousand_character_text(self, analyze: Callable[..., list[Any]]) -> None:
        outputs = analyze([long_situation(), SITUATIONS[1]])
        self.check_batch(outputs, 2, f"a {LONG_LENGTH}-character text")

    def test_deterministic(self, analyze: Callable[..., list[Any]]) -> None:
        first = analyze(SITUATIONS, fresh=True)
        again = analyze(SITUATIONS, fresh=True)
        assert approx_equal(first, again), (
            "two analyzers built from the same config gave different results for the same "
            "batch; seed weight initialisation and sampling from runtime.config.seed, and keep "
            "state that should outlive a call in a runtime service (runtime.experience), not "
            "in module globals")

    def test_works_with_and_without_the_llm_reading(self, analyze: Callable[..., list[Any]]) -> None:
        reading = sample_reading()
        assert set(reading.emotions) == set(EMOTIONS)
        with_reading = analyze(SITUATIONS[:2], initial=reading)
        self.check_batch(with_reading, 2, "items carrying an LLM initial reading")
        without = analyze(SITUATIONS[:2], initial=None)
        self.check_batch(without, 2, "items whose LLM reading is None (the LLM stage failed or "
                                     "the backend is 'none')")

    def test_requires_names_registered_analyzers(self, registry: PluginRegistry,
                                                 registration: Registration, analyzer: Analyzer) -> None:
        for req in registration.requires:
            assert req in registry.names("analyzers"), (
                f"{registration.label} requires {req!r}, which no installed plugin registers "
                f"(registered: {', '.join(registry.names('analyzers'))})")
        assert req_set(analyzer.requires) == req_set(registration.requires), (
            f"the built analyzer declares requires={tuple(analyzer.requires)!r} but registered "
            f"requires={registration.requires!r}; pass the same names to register(..., requires=...)")

    def test_reads_only_what_it_requires(self, analyze: Callable[..., list[Any]],
                                         registration: Registration) -> None:
        tracker: list[DeclaredResults] = []
        analyze(SITUATIONS[:2], initial=sample_reading(), tracker=tracker)
        asked = set().union(*(t.asked for t in tracker)) if tracker else set()
        undeclared = sorted(asked - set(registration.requires))
        assert not undeclared, (
            f"{registration.label} reads item.results{undeclared} without declaring it; add "
            f"requires=({', '.join(repr(u) for u in undeclared)},) to its register(...) call")

    def test_config_without_its_requirements_fails(self, registry: PluginRegistry,
                                                   registration: Registration) -> None:
        if not registration.requires:
            with pytest.raises(ConfigError):
                analyzer_order([self.plugin_name, "no-such-analyzer-xyz"], registry)
            return
        with pytest.raises(ConfigError) as info:
            analyzer_order([self.plugin_name], registry)
        assert registration.requires[0] in str(info.value) and self.plugin_name in str(info.value)

    def test_stage_is_known(self, analyzer: Analyzer, registration: Registration) -> None:
        stage = analyzer.stage if isinstance(analyzer, HasStage) else Stage.RED_HEART
        registered = registration.extra.get("stage", Stage.RED_HEART)
        names = [str(s) for s in ANALYZER_STAGES]
        assert stage in ANALYZER_STAGES, (
            f"{registration.label} has stage={stage!r}; use one of {names} (default red_heart)")
        assert stage == registered, (
            f"the analyzer says stage={stage!r} but was registered with stage={registered!r}; "
            "pass the same value to register(..., stage=...) and set it on the object")

    def test_output_fits_the_result(self, analyze: Callable[..., list[Any]]) -> None:
        (output,) = analyze(SITUATIONS[:1], initial=sample_reading())
        result = AnalysisResult(request_id="kit-0", text=SITUATIONS[0])
        try:
            result.set_analyzer_output(self.plugin_name, output)
            again = AnalysisResult.from_dict(json.loads(result.to_json()))
        except ValueError as exc:
            pytest.fail(f"the output does not fit the AnalysisResult: {exc}; built-in names must "
                        "match their part in redheart_core.schema", pytrace=False)
        assert approx_equal(again.analyzer_output(self.plugin_name), result.analyzer_output(self.plugin_name)), (
            "the output changes when the result goes through JSON; return plain JSON values")

    def test_modules_and_provenance_are_well_formed(self, analyzer: Analyzer,
                                                    registration: Registration) -> None:
        if isinstance(analyzer, HasModules):
            import torch

            found = analyzer.modules()
            assert isinstance(found, Mapping), (
                f"{registration.label}.modules() returned {type(found).__name__}; return a dict "
                "name -> torch.nn.Module so the memory manager can place them")
            for key, module in found.items():
                assert isinstance(key, str) and isinstance(module, torch.nn.Module), (
                    f"modules()[{key!r}] is a {type(module).__name__}, not a torch.nn.Module")
        if isinstance(analyzer, HasProvenance):
            found = analyzer.provenance()
            assert isinstance(found, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in found.items()), (
                f"{registration.label}.provenance() must return a dict role -> model id "
                f"(both strings), got {found!r}")


def req_set(names: Any) -> set[str]:
    return set(names or ())
