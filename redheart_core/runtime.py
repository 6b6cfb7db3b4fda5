"""The composition root: builds what a config names, from the plugin registry, exactly once.

Everything a pipeline uses (the LLM backend, the analyzers in dependency order, the shared
embedder, the memory manager) hangs off one :class:`Runtime`, so a model is never loaded twice
and plugins reach shared services through it instead of through globals.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from omegaconf import DictConfig

from .analyzers.base import Analyzer
from .capabilities import HasStage
from .config import analyzer_order, check_device, config_hash, plugin_options, validate_config
from .errors import ConfigError
from .llm.backend import LLMBackend
from .memory.budget import GIB, Budget
from .memory.strategies import MemoryStrategy
from .phases import ANALYZER_STAGES, Phase, Stage
from .plugins import PluginRegistry, Registration, get_registry
from .translation import Translator

if TYPE_CHECKING:
    from .analyzers.embedder import Embedder
    from .analyzers.experience import ExperienceStore
    from .memory.manager import UnifiedMemoryManager

T = TypeVar("T")

#: plugin kind -> (the contract what its factories build must keep, the config key naming it)
CONTRACTS: dict[str, tuple[type, str]] = {
    "llm_backends": (LLMBackend, "llm.backend"),
    "analyzers": (Analyzer, "analyzers"),
    "translators": (Translator, "translation.translator"),
    "memory_strategies": (MemoryStrategy, "memory.strategy"),
}


def resolve_device(configured: str, *, dry_run: bool = False) -> str:
    """``memory.device`` as torch names it: ``auto`` -> ``cuda`` when torch sees a CUDA
    device, else ``cpu``.

    A CUDA device that is not there is a config error, except in a dry run (a plan for a GPU
    can be made on a machine without one).
    """
    check_device(configured)
    if configured == "auto" or (configured.startswith("cuda") and not dry_run):
        import torch

        available = torch.cuda.is_available()
        if configured == "auto":
            return "cuda" if available else "cpu"
        index = int(configured.partition(":")[2] or 0)
        if not available or index >= torch.cuda.device_count():
            raise ConfigError("memory.device", f"{configured!r} is not available on this machine "
                              f"(torch sees {torch.cuda.device_count()} CUDA devices); set "
                              "memory.device=auto or cpu")
    return configured


class Runtime:
    """What one config composes. Factories are called as ``factory(options)``; a factory that
    also declares a ``runtime`` parameter gets this object, to reach shared services."""

    def __init__(self, config: DictConfig, registry: PluginRegistry | None = None, *,
                 memory: "UnifiedMemoryManager | None" = None):
        self.config = config
        self.registry = registry or get_registry(config.plugins.disabled)
        self._options = validate_config(config, self.registry)
        self.config_hash = config_hash(config)
        if memory is not None:  # a manager of the caller's (the dry-run plan's recorder)
            self.__dict__["memory"] = memory

    def build(self, registration: Registration, options_key: str) -> object:
        """Call a registration's factory with its validated options (and this runtime); what
        it builds is checked against its kind's contract (see :data:`CONTRACTS`)."""
        contract, key = CONTRACTS[registration.kind]
        return self._build(registration, options_key, contract, key)

    def _build(self, registration: Registration, options_key: str, contract: type[T], key: str) -> T:
        """:meth:`build`, typed: a config error at ``key``, naming the plugin, when the product
        does not keep ``contract``."""
        options = self._options.get((options_key, registration.name))
        if options is None:  # a part the config does not name (a conformance kit's)
            options = plugin_options(self.config, registration, options_key)
        factory = registration.factory
        try:
            accepts_runtime = "runtime" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            accepts_runtime = False
        obj = factory(options, runtime=self) if accepts_runtime else factory(options)
        try:
            obj.name = registration.name
        except AttributeError:
            pass
        if registration.kind == "analyzers" and not (isinstance(obj, Analyzer) and obj.requires):
            try:  # an analyzer may leave its requires to the registration
                obj.requires = registration.requires
            except AttributeError:
                pass
        if not isinstance(obj, contract):
            raise ConfigError(key, f"{registration.label} (plugin {registration.plugin!r}, "
                              f"{registration.distribution}) built a {type(obj).__name__}, which "
                              f"does not keep the {contract.__name__} contract (see "
                              "docs/writing-plugins.md)")
        return obj

    @cached_property
    def llm(self) -> LLMBackend:
        reg = self.registry.get("llm_backends", self.config.llm.backend, "llm.backend")
        return self._build(reg, "llm.options", LLMBackend, "llm.backend")

    @cached_property
    def analyzer_names(self) -> list[str]:
        return analyzer_order(list(self.config.analyzers), self.registry)

    @cached_property
    def analyzers(self) -> list[Analyzer]:
        """The configured analyzers, built, in dependency order."""
        return [self._build(self.registry.get("analyzers", name), f"analyzer_options.{name}",
                            Analyzer, "analyzers")
                for name in self.analyzer_names]

    def stage_of(self, analyzer: Analyzer) -> Stage:
        """The stage an analyzer runs in: its ``stage`` attribute, else the ``stage=`` it was
        registered with, else ``red_heart``. Its memory phase has the same name."""
        registration = self.registry.get("analyzers", analyzer.name)
        declared = analyzer.stage if isinstance(analyzer, HasStage) else None
        stage = declared or registration.extra.get("stage") or Stage.RED_HEART
        if stage not in ANALYZER_STAGES:
            raise ConfigError("analyzers", f"analyzer {registration.name!r} declares stage {stage!r}",
                              choices=[str(s) for s in ANALYZER_STAGES])
        return Stage(stage)

    @cached_property
    def memory_strategy(self) -> MemoryStrategy:
        """The strategy ``memory.strategy`` names, built with ``memory.options``."""
        reg = self.registry.get("memory_strategies", self.config.memory.strategy, "memory.strategy")
        return self._build(reg, "memory.options", MemoryStrategy, "memory.strategy")

    @cached_property
    def memory_budget(self) -> Budget:
        return Budget(int(self.config.memory.vram_budget_gb * GIB), self.config.memory.headroom)

    @cached_property
    def memory(self) -> "UnifiedMemoryManager":
        """The process's UnifiedMemoryManager for ``memory.*`` (on the CPU without CUDA)."""
        from .memory.manager import UnifiedMemoryManager

        budget = self.memory_budget
        return UnifiedMemoryManager(resolve_device(self.config.memory.device), budget.budget_bytes,
                                    self.memory_strategy, budget.headroom)

    @cached_property
    def embedder(self) -> "Embedder":
        """The shared sentence embedder for ``embedding.*`` (one per model id per process),
        handed to the memory manager for the red_heart phase."""
        from .analyzers.embedder import embedder_from_config

        embedder = embedder_from_config(self.config.embedding)
        for name, module in embedder.modules().items():
            self.memory.register(name, module, phases={Phase.RED_HEART}, priority=2)
        return embedder

    @cached_property
    def experience(self) -> "ExperienceStore":
        """The experience store at ``experience.path`` (in memory when null), bounded by
        ``experience.max_entries``; a file it cannot use is a config error naming the key."""
        from .analyzers.experience import ExperienceStore, ExperienceStoreError

        exp = self.config.experience
        try:
            return ExperienceStore(exp.path, max_entries=int(exp.max_entries),
                                   keep_text=bool(exp.match_text))
        except ExperienceStoreError as exc:
            raise ConfigError("experience.path", str(exc)) from None

    @cached_property
    def translator(self) -> Translator | None:
        """The translator ``translation.translator`` names, or None for ``none``. Building it
        is cheap: a translator loads its model on first use."""
        name = self.config.translation.translator
        if name == "none":
            return None
        reg = self.registry.get("translators", name, "translation.translator")
        return self._build(reg, "translation.options", Translator, "translation.translator")
