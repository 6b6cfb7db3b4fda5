"""Residency: which registered modules are on the device now, and moving them there and back.

The strategy names a phase's targets; :class:`Residency` loads them within the budget,
evicting the lowest priority first, prefetches into free room, relieves pressure, and moves a
module to the CPU for good when out-of-memory recovery asks. It knows nothing of requests or
of the phase gate: :class:`~redheart_core.memory.manager.UnifiedMemoryManager` decides when a
phase changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from ..phases import PHASES
from .budget import Budget, MemoryBudgetError
from .footprint import ModuleFootprint, module_bytes
from .monitor import DeviceMonitor
from .oom import is_oom
from .strategies import MemoryStrategy

if TYPE_CHECKING:
    import torch

    from .offload import OffloadedModule

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One registered module: its footprint, the module, and its device copy (if any)."""

    footprint: ModuleFootprint
    module: Any
    offload: "OffloadedModule | None"
    last_used: float = 0.0
    on_cpu: bool = False  # moved to the CPU for good by out-of-memory recovery

    @property
    def resident(self) -> bool:
        return self.offload is not None and self.offload.on_device


@dataclass
class SwapCounters:
    swaps_in: int = 0
    swaps_out: int = 0
    swap_seconds: float = 0.0
    evict_seconds: float = 0.0
    bytes_moved: int = 0
    peak_resident_bytes: int = 0
    prefetches: int = 0
    pressure_evictions: int = 0
    spills: int = 0
    cpu_fallbacks: list[str] = field(default_factory=list)


def device_type(device: str) -> str:
    return device.split(":", 1)[0]


class Residency:
    """The registered modules of one device and which of them are resident.

    ``strategy`` is resolved once against the device (``auto`` -> ``cpu`` without an
    accelerator), then again at each registration against the modules registered so far.
    """

    def __init__(self, device: str, budget: Budget, strategy: MemoryStrategy):
        self.requested = strategy
        self.budget = budget
        resolved = strategy.resolve(device_type(device), {}, budget)
        #: where managed modules run: the configured device, or "cpu" for the cpu strategy
        self.device = device if resolved.on_device else "cpu"
        self._device_type = device_type(self.device)
        self.strategy = resolved
        self.entries: dict[str, Entry] = {}
        self.lock = threading.RLock()
        #: the phase whose targets are resident (None before the first)
        self.phase: str | None = None
        self.counters = SwapCounters()
        self._stream: Any = None
        self.monitor = DeviceMonitor(self.device)

    def registered_modules(self) -> dict[str, Any]:
        """The registered modules by name."""
        with self.lock:
            return {n: e.module for n, e in self.entries.items()}

    def footprints(self) -> dict[str, ModuleFootprint]:
        with self.lock:
            return {n: e.footprint for n, e in self.entries.items()}

    def resident_names(self) -> list[str]:
        """Modules whose weights are on the device now."""
        with self.lock:
            return sorted(n for n, e in self.entries.items() if e.resident)

    def resident_bytes(self) -> int:
        with self.lock:
            return sum(e.footprint.bytes for e in self.entries.values() if e.resident)

    def device_of(self, name: str) -> "torch.device":
        """Where ``name`` runs right now: put its inputs there."""
        import torch

        entry = self.entry(name)
        return entry.offload.placement() if entry.offload is not None else torch.device("cpu")

    def entry(self, name: str) -> Entry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise KeyError(f"no module named {name!r} is registered with the memory manager "
                           f"(registered: {known})") from None

    def register(self, name: str, module: "torch.nn.Module", phases: Iterable[str] | str = (),
                 priority: int = 0, depends_on: Iterable[str] = ()) -> "torch.nn.Module":
        """Manage ``module`` under ``name``; returns the module registered under that name.

        ``phases`` are those that run it (empty: all). Registering a name again returns the
        first registration untouched, so a shared module is loaded and counted once.
        Raises :class:`MemoryBudgetError` when it cannot fit the budget.
        """
        phases = frozenset([phases] if isinstance(phases, str) else phases)
        with self.lock:
            if name in self.entries:
                return self.entries[name].module
            footprint = ModuleFootprint(name, module_bytes(module), phases, int(priority),
                                        tuple(depends_on))
            trial = {**self.footprints(), name: footprint}
            strategy = self.requested.resolve(self._device_type, trial, self.budget)
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
            self.entries[name] = Entry(footprint, module, offload)
            self.strategy = strategy
            self._settle(self.phase, wait=True)
            return module

    def switch_to(self, phase: str) -> None:
        """Make ``phase`` current: relieve pressure from other processes, load its targets."""
        with self.lock:
            if self.monitor.under_pressure(self.budget.budget_bytes - self.budget.limit_bytes):
                self.relieve(phase)
                self.counters.pressure_evictions += 1
            self.phase = phase
            self._settle(phase, wait=True)

    def successor(self, phase: str) -> str | None:
        """The next phase in pipeline order that uses a registered module (what to prefetch)."""
        with self.lock:
            used = [p for p in PHASES
                    if any(e.footprint.used_in(p) for e in self.entries.values())]
        if phase not in used or len(used) < 2:
            return None
        return used[(used.index(phase) + 1) % len(used)]

    def _targets(self, phase: str | None) -> list[str]:
        strategy = self.strategy
        if not strategy.on_device or (phase is None and not strategy.keeps_all):
            return []
        names = strategy.targets(phase or "", self.footprints())
        return [n for n in names if not self.entries[n].on_cpu]

    def _settle(self, phase: str | None, *, wait: bool) -> None:
        """Make ``phase``'s targets resident, evicting the lowest priority first for room."""
        targets = self._targets(phase)
        missing = [n for n in targets if not self.entries[n].resident]
        need = sum(self.entries[n].footprint.bytes for n in missing)
        self._evict_for(need, keep=set(targets))
        self._return_cache_if_needed(need)
        start = time.perf_counter()
        loaded = []
        for name in missing:
            entry = self.entries[name]
            if self.resident_bytes() + entry.footprint.bytes > self.budget.limit_bytes:
                self._spill(phase, name, "the phase's working set does not fit the budget "
                            "(see `redheart memory plan`)")
                continue
            try:
                self._load(entry)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                self.relieve(phase)  # another process may hold the memory: make room, retry
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
            entry = self.entries[name]
            entry.last_used = now
            if wait and entry.offload is not None:
                entry.offload.wait()
        if loaded:
            self.counters.swap_seconds += time.perf_counter() - start

    def _spill(self, phase: str | None, name: str, why: str) -> None:
        """Leave ``name`` in host memory for this phase: it runs on the CPU, slower but whole."""
        self.counters.spills += 1
        log.warning("memory: module %r runs on the CPU during phase %r: %s", name, phase, why)

    def _load(self, entry: Entry) -> None:
        self.counters.bytes_moved += entry.offload.load(self._side_stream())
        self.counters.swaps_in += 1
        self.counters.peak_resident_bytes = max(self.counters.peak_resident_bytes,
                                                 self.resident_bytes())

    def _evict_for(self, need: int, keep: set[str]) -> None:
        free = self.budget.limit_bytes - self.resident_bytes()
        if need <= free:
            return
        victims = sorted((e for n, e in self.entries.items() if e.resident and n not in keep),
                         key=lambda e: (e.footprint.priority, e.last_used, e.footprint.name))
        for entry in victims:
            if need <= free:
                break
            self._evict(entry)
            free += entry.footprint.bytes

    def _evict(self, entry: Entry) -> None:
        start = time.perf_counter()
        entry.offload.evict()
        seconds = time.perf_counter() - start
        self.counters.evict_seconds += seconds
        self.counters.swap_seconds += seconds
        self.counters.swaps_out += 1

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

    def relieve(self, phase: str | None) -> None:
        """Evict everything ``phase`` does not need and give cached blocks back to the driver."""
        keep = set(self._targets(phase))
        for name, entry in self.entries.items():
            if entry.resident and name not in keep:
                self._evict(entry)
        if self.monitor.is_cuda:
            import torch

            torch.cuda.empty_cache()

    def prefetch(self, phase: str) -> None:
        """Start loading ``phase``'s modules into free room; never evicts, never raises."""
        with self.lock:
            for name in self._targets(phase):
                entry = self.entries[name]
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
                self.counters.swap_seconds += time.perf_counter() - start
                self.counters.prefetches += 1

    def _side_stream(self) -> Any:
        if self._device_type != "cuda" or not self.monitor.is_cuda:
            return None
        if self._stream is None:
            import torch

            self._stream = torch.cuda.Stream(torch.device(self.device))
        return self._stream

    def fall_back(self, name: str, why: str) -> None:
        """Run ``name`` on the CPU from now on (out-of-memory recovery's last resort)."""
        entry = self.entries[name]
        if entry.on_cpu:
            return
        if entry.offload is not None:
            if entry.resident:
                self._evict(entry)
        entry.on_cpu = True
        self.counters.cpu_fallbacks.append(name)
        log.warning("memory: module %r runs on the CPU from now on: %s", name, why)
