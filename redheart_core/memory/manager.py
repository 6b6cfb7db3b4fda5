"""UnifiedMemoryManager: one owner for every torch module of the process and its device budget.

Plugins register their modules once (name, phases, priority). The pipeline enters phases
through :meth:`UnifiedMemoryManager.phase`; on entering one, the strategy's targets for it are
made resident within ``budget * (1 - headroom)``, evicting the lowest priority first, and the
next phase is prefetched into whatever room is left. Torch work wrapped in
:meth:`UnifiedMemoryManager.run_with_oom_recovery` survives out-of-memory errors.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable, Sequence

from .budget import GIB, Budget, MemoryBudgetError
from .footprint import ModuleFootprint, declared_modules, module_bytes
from .gate import PhaseGate
from .monitor import DeviceMonitor
from .plan import MemoryPlan, build_plan
from .recovery import concat, halve, is_oom
from .strategies import CANONICAL_PHASES, AutoStrategy, MemoryStrategy, working_set

if TYPE_CHECKING:
    import torch

    from .offload import OffloadedModule

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    footprint: ModuleFootprint
    module: Any
    offload: "OffloadedModule | None"
    last_used: float = 0.0
    on_cpu: bool = False  # moved to the CPU for good by out-of-memory recovery

    @property
    def resident(self) -> bool:
        return self.offload is not None and self.offload.on_device


@dataclass
class _Counters:
    swaps_in: int = 0
    swaps_out: int = 0
    swap_seconds: float = 0.0
    evict_seconds: float = 0.0
    bytes_moved: int = 0
    peak_resident_bytes: int = 0
    prefetches: int = 0
    pressure_evictions: int = 0
    free_holds: int = 0
    spills: int = 0
    oom_recoveries: int = 0
    oom_actions: dict[str, int] = field(default_factory=lambda: {"retry": 0, "split": 0, "cpu": 0})
    cpu_fallbacks: list[str] = field(default_factory=list)


def _device_type(device: str) -> str:
    return device.split(":", 1)[0]


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
        self.requested = strategy
        self.budget = Budget(int(budget_bytes), headroom)
        self._device_type = _device_type(device)
        on_device = strategy.resolve(self._device_type, {}, self.budget).on_device
        #: where managed modules run: the configured device, or "cpu" for the cpu strategy
        self.device = device if on_device else "cpu"
        self._strategy = strategy.resolve(_device_type(self.device), {}, self.budget)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._phase: str | None = None
        self._counters = _Counters()
        self._stream: Any = None
        self._prefetch_task: asyncio.Future | None = None
        self._free_holders: dict[str, int] = {}
        self._free_changed: asyncio.Event | None = None
        self.monitor = DeviceMonitor(self.device)
        self.gate = PhaseGate(self._enter, group_limit=strategy.group_limit)

    # ------------------------------------------------------------ properties
    @property
    def strategy(self) -> MemoryStrategy:
        """The strategy in force (``auto`` resolved against the modules registered so far)."""
        return self._strategy

    @property
    def strategy_name(self) -> str:
        return self._strategy.name

    @property
    def current_phase(self) -> str | None:
        return self._phase

    def registered_modules(self) -> dict[str, Any]:
        """The registered modules by name."""
        with self._lock:
            return {n: e.module for n, e in self._entries.items()}

    def footprints(self) -> dict[str, ModuleFootprint]:
        with self._lock:
            return {n: e.footprint for n, e in self._entries.items()}

    def resident_names(self) -> list[str]:
        """Modules whose weights are on the device now."""
        with self._lock:
            return sorted(n for n, e in self._entries.items() if e.resident)

    def resident_bytes(self) -> int:
        with self._lock:
            return sum(e.footprint.bytes for e in self._entries.values() if e.resident)

    def device_of(self, name: str) -> "torch.device":
        """Where ``name`` runs right now: put its inputs there."""
        import torch

        entry = self._entry(name)
        return entry.offload.placement() if entry.offload is not None else torch.device("cpu")

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"no module named {name!r} is registered with the memory manager "
                           f"(registered: {known})") from None

    # ---------------------------------------------------------- registration
    def register(self, name: str, module: Any, phases: Iterable[str] | str = (),
                 priority: int = 0, depends_on: Iterable[str] = ()) -> Any:
        """Manage ``module`` under ``name``; returns the module registered under that name.

        ``phases`` are those that run it (empty: all). Registering a name again returns the
        first registration untouched, so a shared module is loaded and counted once.
        Raises :class:`MemoryBudgetError` when it cannot fit the budget.
        """
        phases = frozenset([phases] if isinstance(phases, str) else phases)
        with self._lock:
            if name in self._entries:
                return self._entries[name].module
            footprint = ModuleFootprint(name, module_bytes(module), phases, int(priority),
                                        tuple(depends_on))
            trial = {**self.footprints(), name: footprint}
            strategy = self.requested.resolve(_device_type(self.device), trial, self.budget)
            offload = None
            if strategy.on_device:
                if footprint.bytes > self.budget.limit_bytes:
                    raise self.budget.oversize_error(name, footprint.bytes)
                problems = strategy.problems(trial, self.budget) if strategy.keeps_all else []
                if problems:
                    raise MemoryBudgetError(f"cannot register module {name!r}: {problems[-1]}")
                import torch

                from .offload import OffloadedModule

                offload = OffloadedModule(module, torch.device(self.device))
            else:
                module.to("cpu")  # placed once; nothing moves afterwards
            self._entries[name] = _Entry(footprint, module, offload)
            self._strategy = strategy
            self._settle(self._phase, wait=True)
            return module

    # ----------------------------------------------------------------- phases
    def phase(self, name: str) -> AbstractAsyncContextManager[None]:
        """``async with umm.phase("red_heart"):`` the phase's modules are resident inside.

        Under a device strategy a phase that uses no registered module (``llm`` with an API
        backend) is *free*: it bypasses the gate, so requests in it overlap freely with others.
        """
        return self._hold(name)

    def _is_free(self, phase: str) -> bool:
        strategy = self._strategy
        return (strategy.on_device and not strategy.keeps_all
                and not working_set(phase, self.footprints()))

    @asynccontextmanager
    async def _hold(self, name: str) -> AsyncIterator[None]:
        if not self._is_free(name):
            async with self.gate.hold(name):
                yield
            return
        self._free_holders[name] = self._free_holders.get(name, 0) + 1
        self._counters.free_holds += 1
        try:
            yield
        finally:
            self._free_holders[name] -= 1
            if self._free_changed is not None:
                self._free_changed.set()

    async def _drain_stale_free_holders(self) -> None:
        """Wait for holders that entered a phase while it was free but whose phase has since
        gained modules (a lazily loaded local model): its modules must not move under them."""
        while any(n and not self._is_free(p) for p, n in self._free_holders.items()):
            self._free_changed = asyncio.Event()
            await self._free_changed.wait()
        self._free_changed = None

    async def _enter(self, phase: str) -> None:
        await self._drain_stale_free_holders()
        task, self._prefetch_task = self._prefetch_task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([task])  # its errors are logged by _prefetch itself
        await asyncio.to_thread(self._switch_to, phase)
        upcoming = self.gate.next_phase() or self._successor(phase)
        if self._strategy.prefetch and upcoming and upcoming != phase:
            self._prefetch_task = asyncio.ensure_future(asyncio.to_thread(self._prefetch, upcoming))

    def _successor(self, phase: str) -> str | None:
        with self._lock:
            used = [p for p in CANONICAL_PHASES
                    if any(e.footprint.used_in(p) for e in self._entries.values())]
        if phase not in used or len(used) < 2:
            return None
        return used[(used.index(phase) + 1) % len(used)]

    def _switch_to(self, phase: str) -> None:
        with self._lock:
            if self.monitor.under_pressure(self.budget.budget_bytes - self.budget.limit_bytes):
                self._relieve(phase)
                self._counters.pressure_evictions += 1
            self._phase = phase
            self._settle(phase, wait=True)

    def _targets(self, phase: str | None) -> list[str]:
        strategy = self._strategy
        if not strategy.on_device or (phase is None and not strategy.keeps_all):
            return []
        names = strategy.targets(phase or "", self.footprints())
        return [n for n in names if not self._entries[n].on_cpu]

    def _settle(self, phase: str | None, *, wait: bool) -> None:
        """Make ``phase``'s targets resident, evicting the lowest priority first for room."""
        targets = self._targets(phase)
        missing = [n for n in targets if not self._entries[n].resident]
        need = sum(self._entries[n].footprint.bytes for n in missing)
        self._evict_for(need, keep=set(targets))
        self._return_cache_if_needed(need)
        start = time.perf_counter()
        loaded = []
        for name in missing:
            entry = self._entries[name]
            if self.resident_bytes() + entry.footprint.bytes > self.budget.limit_bytes:
                self._spill(phase, name, "the phase's working set does not fit the budget "
                            "(see `redheart memory plan`)")
                continue
            try:
                self._load(entry)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                self._relieve(phase)  # another process may hold the memory: make room, retry
                try:
                    self._load(entry)
                except Exception as again:
                    if not is_oom(again):
                        raise
                    self._spill(phase, name, f"the device is out of memory ({again})")
                    continue
            loaded.append(entry)
        now = time.perf_counter()
        for name in targets:
            entry = self._entries[name]
            entry.last_used = now
            if wait and entry.offload is not None:
                entry.offload.wait()
        if loaded:
            self._counters.swap_seconds += time.perf_counter() - start

    def _spill(self, phase: str | None, name: str, why: str) -> None:
        """Leave ``name`` in host memory for this phase: it runs on the CPU, slower but whole."""
        self._counters.spills += 1
        log.warning("memory: module %r runs on the CPU during phase %r: %s", name, phase, why)

    def _load(self, entry: _Entry) -> None:
        self._counters.bytes_moved += entry.offload.load(self._side_stream())
        self._counters.swaps_in += 1
        self._counters.peak_resident_bytes = max(self._counters.peak_resident_bytes,
                                                 self.resident_bytes())

    def _evict_for(self, need: int, keep: set[str]) -> None:
        free = self.budget.limit_bytes - self.resident_bytes()
        if need <= free:
            return
        victims = sorted((e for n, e in self._entries.items() if e.resident and n not in keep),
                         key=lambda e: (e.footprint.priority, e.last_used, e.footprint.name))
        for entry in victims:
            if need <= free:
                break
            self._evict(entry)
            free += entry.footprint.bytes

    def _evict(self, entry: _Entry) -> None:
        start = time.perf_counter()
        entry.offload.evict()
        seconds = time.perf_counter() - start
        self._counters.evict_seconds += seconds
        self._counters.swap_seconds += seconds
        self._counters.swaps_out += 1

    def _return_cache_if_needed(self, need: int) -> None:
        """Give torch's cached blocks back to the driver when keeping them would let the
        device-wide figure (NVML) pass the budget once ``need`` more bytes are loaded."""
        if not need or not self.monitor.is_cuda:
            return
        import torch

        device = torch.device(self.device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        if torch.cuda.memory_reserved(device) + max(0, need - cached) > self.budget.budget_bytes:
            torch.cuda.empty_cache()

    def _relieve(self, phase: str | None) -> None:
        """Evict everything ``phase`` does not need and give cached blocks back to the driver."""
        keep = set(self._targets(phase))
        for name, entry in self._entries.items():
            if entry.resident and name not in keep:
                self._evict(entry)
        if self.monitor.is_cuda:
            import torch

            torch.cuda.empty_cache()

    def _prefetch(self, phase: str) -> None:
        """Start loading ``phase``'s modules into free room; never evicts, never raises."""
        with self._lock:
            for name in self._targets(phase):
                entry = self._entries[name]
                if entry.resident:
                    continue
                if self.resident_bytes() + entry.footprint.bytes > self.budget.limit_bytes:
                    continue
                start = time.perf_counter()
                try:
                    self._load(entry)
                except Exception as exc:  # a prefetch is an optimisation: the entry will load
                    log.warning("memory: prefetching %r for phase %r failed: %s", name, phase, exc)
                    return
                self._counters.swap_seconds += time.perf_counter() - start
                self._counters.prefetches += 1

    def _side_stream(self) -> Any:
        if self._device_type != "cuda" or not self.monitor.is_cuda:
            return None
        if self._stream is None:
            import torch

            self._stream = torch.cuda.Stream(torch.device(self.device))
        return self._stream

    def _fall_back(self, name: str, why: str) -> None:
        entry = self._entries[name]
        if entry.on_cpu:
            return
        if entry.offload is not None:
            if entry.resident:
                self._evict(entry)
        entry.on_cpu = True
        self._counters.cpu_fallbacks.append(name)
        log.warning("memory: module %r runs on the CPU from now on: %s", name, why)

    # ------------------------------------------------------- out of memory
    def run_with_oom_recovery(self, modules: str | Iterable[str],
                              fn: Callable[[Any, "torch.device"], Any], batch: Sequence[Any], *,
                              split: Callable[[Sequence[Any]], list[Sequence[Any]]] = halve,
                              merge: Callable[[list[Any]], Any] = concat) -> Any:
        """``fn(batch, device)`` for the module(s) named, recovering from out-of-memory errors.

        On OOM: evict what the current phase does not need, empty the cache and retry; then
        split the batch and run the parts; a single item that still fails moves the named
        modules to the CPU for good and runs there. Each recovery is counted in :meth:`stats`.
        ``device`` is where the first named module runs now: ``fn`` must put its inputs there.
        Call it from a worker thread (it is torch work).
        """
        names = [modules] if isinstance(modules, str) else list(modules)
        if not names:
            raise ValueError("run_with_oom_recovery needs the name of at least one module")
        for name in names:
            self._entry(name)
        try:
            return fn(batch, self.device_of(names[0]))
        except Exception as exc:
            if not is_oom(exc):
                raise
            return self._recover(names, fn, batch, exc, split, merge)

    run = run_with_oom_recovery

    def run_recovering(self, fn: Callable[[Sequence[Any]], Any], batch: Sequence[Any],
                       *components: Any, merge: Callable[[list[Any]], Any] = concat) -> Any:
        """``fn(batch)`` for components that name their torch modules through ``modules()`` (an
        analyzer, the embedder, a translator, a backend) and place their own inputs.

        The pipeline runs every component's torch work through this. On an out-of-memory error
        the components' modules are looked up only then (a lazily loaded model is registered by
        that time) and recovery goes on as in :meth:`run_with_oom_recovery` for all of them;
        when none of them is registered here, the error comes back unchanged.
        """
        try:
            return fn(batch)
        except Exception as exc:
            if not is_oom(exc):
                raise
            first = exc
        names: list[str] = []
        with self._lock:
            for component in components:
                names += [n for n in declared_modules(component)
                          if n in self._entries and n not in names]
        if not names:
            raise first
        return self._recover(names, lambda part, _device: fn(part), batch, first, halve, merge)

    def _recover(self, names: list[str], fn: Callable[[Any, "torch.device"], Any],
                 batch: Sequence[Any], first: BaseException,
                 split: Callable[[Sequence[Any]], list[Sequence[Any]]],
                 merge: Callable[[list[Any]], Any]) -> Any:
        """After ``first`` (an OOM): make room and retry, then split, then the CPU."""
        with self._lock:
            self._relieve(self._phase)
            self._record_oom("retry")
        try:
            return fn(batch, self.device_of(names[0]))
        except Exception as exc:
            if not is_oom(exc):
                raise
        if len(batch) > 1:
            self._record_oom("split")
            return merge([self.run_with_oom_recovery(names, fn, part, split=split, merge=merge)
                          for part in split(batch) if len(part)])
        with self._lock:
            for name in names:
                self._fall_back(name, f"out of memory on a single item ({first})")
            self._record_oom("cpu")
        return fn(batch, self.device_of(names[0]))

    def _record_oom(self, action: str) -> None:
        self._counters.oom_recoveries += 1
        self._counters.oom_actions[action] += 1

    # ------------------------------------------------------------ reporting
    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self._counters
            return {
                "strategy": self.strategy_name,
                "device": self.device,
                "phase": self._phase,
                "budget_bytes": self.budget.budget_bytes,
                "limit_bytes": self.budget.limit_bytes,
                "registered": len(self._entries),
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
                "free_holds": c.free_holds,
                "pressure_evictions": c.pressure_evictions,
                "spills": c.spills,
                "oom_recoveries": c.oom_recoveries,
                "oom_actions": dict(c.oom_actions),
                "cpu_fallbacks": list(c.cpu_fallbacks),
                "peak_gpu_bytes": self.peak_gpu_bytes(),
            }

    def peak_gpu_bytes(self) -> int:
        """The process's peak allocated device memory (torch allocator); 0 off CUDA."""
        return self.monitor.peak_allocated()

    def plan(self) -> MemoryPlan:
        """The per-phase plan for the modules registered so far; nothing moves."""
        return build_plan(self.footprints().values(), self.requested, self.device, self.budget)
