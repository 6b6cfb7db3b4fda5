"""The built-in analyzers, registered through the same hook as any third-party plugin.

The options dataclasses come from :mod:`.options` (plain dataclasses); each factory imports its
analyzer (and with it numpy, torch and transformers) when it is called, so loading plugins stays
fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl
from .options import (BenthamOptions, CircuitOptions, EmotionOptions, EthicsOptions, RegretOptions,
                      SurdOptions, uses_model)

if TYPE_CHECKING:
    from ..memory.manager import UnifiedMemoryManager
    from ..runtime import Runtime
    from .base import Analyzer
    from .embedder import Embedder


def _embedder(runtime: "Runtime | None") -> "Embedder":
    if runtime is not None:
        return runtime.embedder
    from .embedder import get_embedder

    return get_embedder()


def _memory(runtime: "Runtime | None") -> "UnifiedMemoryManager | None":
    return runtime.memory if runtime is not None else None


def make_emotion(options: EmotionOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .emotion import EmotionAnalyzer

    return EmotionAnalyzer(_embedder(runtime), options, _memory(runtime))


def make_bentham(options: BenthamOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .bentham import BenthamAnalyzer

    return BenthamAnalyzer(_embedder(runtime), options, _memory(runtime))


def make_ethics(options: EthicsOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .ethics import EthicsAnalyzer

    return EthicsAnalyzer(_embedder(runtime), options)


def make_regret(options: RegretOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .regret import RegretAnalyzer

    return RegretAnalyzer(_embedder(runtime), options, _memory(runtime))


def make_surd(options: SurdOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .propagation import SurdAnalyzer

    model = uses_model(options.method, _embedder(runtime), "analyzer_options.surd.method")
    return SurdAnalyzer(options, seed=int(runtime.config.seed) if runtime is not None else 0,
                        model=model)


def make_circuit(options: CircuitOptions, runtime: "Runtime | None" = None) -> "Analyzer":
    from .circuit import CircuitAnalyzer
    from .experience import ExperienceStore

    if runtime is None:
        return CircuitAnalyzer(_embedder(None), ExperienceStore(None), options)
    exp = runtime.config.experience
    return CircuitAnalyzer(runtime.embedder, runtime.experience, options,
                           top_k=int(exp.top_k), threshold=float(exp.threshold))


@hookimpl
def redheart_register_analyzers(register):
    register("emotion", make_emotion, options=EmotionOptions,
             description="Seven-label emotion at the self, other and community levels, integrated")
    register("bentham", make_bentham, options=BenthamOptions, requires=("emotion",),
             description="Bentham's hedonic calculus (10 dimensions, 6 layers) for the situation "
                         "and its counterfactuals")
    register("ethics", make_ethics, options=EthicsOptions, requires=("emotion",),
             description="Moral-foundation salience: care, fairness, loyalty, authority, sanctity, liberty")
    register("regret", make_regret, options=RegretOptions, requires=("emotion", "bentham"),
             description="Anticipated regret over the counterfactual scenarios")
    register("surd", make_surd, options=SurdOptions, requires=("emotion", "bentham"),
             description="SURD decomposition of what drives the Bentham score (Monte-Carlo)")
    register("circuit", make_circuit, options=CircuitOptions,
             requires=("emotion", "bentham", "ethics", "regret"), stage="circuit",
             description="Seven-stage emotion-ethics-regret circuit with experience recall")
