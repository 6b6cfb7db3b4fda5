"""What a plugin object may offer beyond its kind's contract.

The contracts (:data:`redheart_core.runtime.CONTRACTS`) say what every LLM backend, analyzer,
translator and memory strategy must have. These protocols name, in one place, what any of them
(and the shared embedder) may add; the core asks ``isinstance(part, HasModules)`` instead of
probing for attribute names, so each capability has one spelling and one signature. The one
that speaks the memory layer's types, ``DeclaresFootprint``, lives beside them in
:mod:`redheart_core.memory.footprint`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch stays out of start-up
    import torch


@runtime_checkable
class HasModules(Protocol):
    """Runs torch modules, which the memory manager places and plans, under these names."""

    def modules(self) -> Mapping[str, "torch.nn.Module"]: ...


@runtime_checkable
class HasProvenance(Protocol):
    """Names the models and files behind its output, for the result's provenance."""

    def provenance(self) -> Mapping[str, str]: ...


@runtime_checkable
class HasStage(Protocol):
    """An analyzer that says which stage (and memory phase) it runs in."""

    stage: str
