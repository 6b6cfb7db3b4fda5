"""UnifiedMemoryManager: one owner for every torch module of the process and its device budget.

Plugins register their modules once (name, phases, priority). The pipeline enters phases
through :meth:`UnifiedMemoryManager.phase`; the manager decides when a phase may change (the
:class:`~.gate.PhaseGate`) and hands the moving to :class:`~.residency.Residency` (the
strategy's targets resident within ``budget * (1 - headroom)``, the next phase prefetched).
Torch work run through :meth:`UnifiedMemoryManager.run_recovering` survives out-of-memory
errors (:class:`~.recovery.OomRecovery`).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable, Sequence

from .budget import GIB, Budget
from .footprint import ModuleFootprint
from .gate import PhaseGate
from .monitor import DeviceMonitor
from .plan import MemoryPlan, build_plan
from .oom import concat, halve
from .recovery import OomRecovery
from .residency import Residency
from .strategies import AutoStrategy, MemoryStrategy

if TYPE_CHECKING:
    import torch


class UnifiedMemoryManager:
    """Keeps registered modules within a device budget, phase by phase, under ``strategy``
    (``auto`` when none is given). Building one from a config is the runtime's work
    (:attr:`redheart_core.runtime.Runtime.memory`).
    """

    def __init__(self, device: str = "cpu", budget_bytes: int = 8 * GIB,
                 strategy: MemoryStrategy | None = None, headroom: float = 0.1):
        if strategy is None:
            strategy = AutoStrategy()
        elif not isinstance(strategy, MemoryStrategy):
            raise TypeError(f"strategy must be a MemoryStrategy, got {type(strategy).__name__} "
                            "(a registered name is resolved by the runtime: Runtime.memory_strategy)")
        self.residency = Residency(device, Budget(int(budget_bytes), headroom), strategy)
        self.recovery = OomRecovery(self.residency)
        self.gate = PhaseGate(self._enter, group_limit=strategy.group_limit)
        self._prefetch_task: asyncio.Future | None = None
        self._free_holders: dict[str, int] = {}
        self._free_changed: asyncio.Event | None = None
        self._free_holds = 0

    # ------------------------------------------------------------ properties
    @property
    def requested(self) -> MemoryStrategy:
        """The strategy as configured (``auto`` unresolved)."""
        return self.residency.requested

    @property
    def strategy(self) -> MemoryStrategy:
        """The strategy in force (``auto`` resolved against the modules registered so far)."""
        return self.residency.strategy

    @property
    def strategy_name(self) -> str:
        return self.residency.strategy.name

    @property
    def device(self) -> str:
        """Where managed modules run: the configured device, or ``cpu`` for the cpu strategy."""
        return self.residency.device

    @property
    def budget(self) -> Budget:
        return self.residency.budget

    @property
    def monitor(self) -> DeviceMonitor:
        return self.residency.monitor

    @property
    def current_phase(self) -> str | None:
        return self.residency.phase

    def registered_modules(self) -> dict[str, Any]:
        """The registered modules by name."""
        return self.residency.registered_modules()

    def footprints(self) -> dict[str, ModuleFootprint]:
        return self.residency.footprints()

    def resident_names(self) -> list[str]:
        """Modules whose weights are on the device now."""
        return self.residency.resident_names()

    def resident_bytes(self) -> int:
        return self.residency.resident_bytes()

    def device_of(self, name: str) -> "torch.device":
        """Where ``name`` runs right now: put its inputs there."""
        return self.residency.device_of(name)

    # ---------------------------------------------------------- registration
    def register(self, name: str, module: "torch.nn.Module", phases: Iterable[str] | str = (),
                 priority: int = 0, depends_on: Iterable[str] = ()) -> "torch.nn.Module":
        """Manage ``module`` under ``name``; returns the module registered under that name.

        ``phases`` are those that run it (empty: all); ``depends_on`` names modules that must
        be resident with it. Registering a name again returns the first registration
        untouched, so a shared module is loaded and counted once. Raises
        :class:`~.budget.MemoryBudgetError` when it cannot fit the budget.
        """
        return self.residency.register(name, module, phases, priority, depends_on)

    # ----------------------------------------------------------------- phases
    def phase(self, name: str) -> AbstractAsyncContextManager[None]:
        """``async with umm.phase("red_heart"):`` the phase's modules are resident inside.

        A phase whose entry moves nothing is *free* (:meth:`MemoryStrategy.gates`): one that
        uses no registered module (``llm`` with an API backend), and every phase under
        ``resident`` (all resident all the time) or ``cpu`` (nothing on a device). Free work
        bypasses the gate and overlaps with any other; the gate orders only real swaps.
        """
        return self._hold(name)

    def is_free(self, phase: str) -> bool:
        """Whether entering ``phase`` moves nothing, so its work overlaps any other."""
        return not self.strategy.gates(phase, self.footprints())

    @asynccontextmanager
    async def _hold(self, name: str) -> AsyncIterator[None]:
        if not self.is_free(name):
            async with self.gate.hold(name):
                yield
            return
        self._free_holders[name] = self._free_holders.get(name, 0) + 1
        self._free_holds += 1
        try:
            yield
        finally:
            self._free_holders[name] -= 1
            if self._free_changed is not None:
                self._free_changed.set()

    async def _drain_stale_free_holders(self) -> None:
        """Wait for holders that entered a phase while it was free but whose phase has since
        gained modules (a lazily loaded local model): its modules must not move under them."""
        while any(n and not self.is_free(p) for p, n in self._free_holders.items()):
            self._free_changed = asyncio.Event()
            await self._free_changed.wait()
        self._free_changed = None

    async def _enter(self, phase: str) -> None:
        await self._drain_stale_free_holders()
        task, self._prefetch_task = self._prefetch_task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([task])  # its errors are logged by the prefetch itself
        await asyncio.to_thread(self.residency.switch_to, phase)
        upcoming = self.gate.next_phase() or self.residency.successor(phase)
        if self.strategy.prefetch and upcoming and upcoming != phase:
            self._prefetch_task = asyncio.ensure_future(
                asyncio.to_thread(self.residency.prefetch, upcoming))

    # ------------------------------------------------------- out of memory
    def run_recovering(self, fn: Callable[[Sequence[Any]], Any], batch: Sequence[Any],
                       *owners: object, split: Callable[[Sequence[Any]], list[Sequence[Any]]] = halve,
                       merge: Callable[[list[Any]], Any] = concat) -> Any:
        """``fn(batch)``, surviving out-of-memory errors for the modules ``owners`` name
        (module names, or components that list theirs through ``modules()``); see
        :meth:`OomRecovery.run`. The one way the pipeline and plugins run torch work."""
        return self.recovery.run(fn, batch, *owners, split=split, merge=merge)

    # ------------------------------------------------------------ reporting
    def stats(self) -> dict[str, Any]:
        residency = self.residency
        with residency.lock:
            c = residency.counters
            oom = self.recovery.counters
            return {
                "strategy": self.strategy_name,
                "device": self.device,
                "phase": residency.phase,
                "budget_bytes": self.budget.budget_bytes,
                "limit_bytes": self.budget.limit_bytes,
                "registered": len(residency.entries),
                "resident": self.resident_names(),
                "resident_bytes": self.resident_bytes(),
                "peak_resident_bytes": c.peak_resident_bytes,
                "swaps_in": c.swaps_in,
                "swaps_out": c.swaps_out,
                "swap_seconds": c.swap_seconds,
                "evict_seconds": c.evict_seconds,
                "bytes_moved": c.bytes_moved,
                "prefetches": c.prefetches,
                "phase_switches": self.gate.switches,
                "free_holds": self._free_holds,
                "pressure_evictions": c.pressure_evictions,
                "spills": c.spills,
                "oom_recoveries": oom.recoveries,
                "oom_actions": dict(oom.actions),
                "cpu_fallbacks": list(c.cpu_fallbacks),
                "peak_gpu_bytes": self.peak_gpu_bytes(),
            }

    def peak_gpu_bytes(self) -> int:
        """The process's peak allocated device memory (torch allocator); 0 off CUDA."""
        return self.monitor.peak_allocated()

    def plan(self) -> MemoryPlan:
        """The per-phase plan for the modules registered so far; nothing moves."""
        return build_plan(self.footprints().values(), self.requested, self.device, self.budget)
