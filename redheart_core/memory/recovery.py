"""Out-of-memory recovery: the one entry point (:meth:`OomRecovery.run`) that the memory
manager offers for torch work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .footprint import declared_modules
from .oom import concat, halve, is_oom

if TYPE_CHECKING:
    from .residency import Residency


@dataclass
class OomCounters:
    recoveries: int = 0
    actions: dict[str, int] = field(default_factory=lambda: {"retry": 0, "split": 0, "cpu": 0})


class OomRecovery:
    """Runs torch work so that an out-of-memory error costs time, never a request.

    On OOM: evict what the current phase does not need, empty the cache and retry; then split
    the batch and run the parts; a single item that still fails moves the modules to the CPU
    for good and runs there. Each step is counted.
    """

    def __init__(self, residency: "Residency"):
        self.residency = residency
        self.counters = OomCounters()

    def run(self, fn: Callable[[Sequence[Any]], Any], batch: Sequence[Any], *owners: object,
            split: Callable[[Sequence[Any]], list[Sequence[Any]]] = halve,
            merge: Callable[[list[Any]], Any] = concat) -> Any:
        """``fn(batch)``, recovering for the modules ``owners`` name: a module name (it must be
        registered), or a component whose ``modules()`` are looked up only when an OOM happens
        (a lazily loaded model is registered by then). With none of them registered, the error
        comes back unchanged. ``fn`` places its own inputs (``umm.device_of(name)`` says where a
        module runs now; recovery may move it). Call it from a worker thread."""
        for owner in owners:
            if isinstance(owner, str):
                self.residency.entry(owner)  # an unknown name is a mistake: say so now
        try:
            return fn(batch)
        except Exception as exc:
            if not is_oom(exc):
                raise
            first = exc
        names = self._names(owners)
        if not names:
            raise first
        return self._recover(names, fn, batch, first, split, merge)

    def _names(self, owners: Sequence[object]) -> list[str]:
        names: list[str] = []
        with self.residency.lock:
            for owner in owners:
                found = [owner] if isinstance(owner, str) else list(declared_modules(owner))
                names += [n for n in found if n in self.residency.entries and n not in names]
        return names

    def _recover(self, names: list[str], fn: Callable[[Sequence[Any]], Any], batch: Sequence[Any],
                 first: BaseException, split: Callable[[Sequence[Any]], list[Sequence[Any]]],
                 merge: Callable[[list[Any]], Any]) -> Any:
        residency = self.residency
        with residency.lock:
            residency.relieve(residency.phase)
            self._record("retry")
        try:
            return fn(batch)
        except Exception as exc:
            if not is_oom(exc):
                raise
        if len(batch) > 1:
            self._record("split")
            parts = []
            for part in split(batch):
                if not len(part):
                    continue
                try:
                    parts.append(fn(part))
                except Exception as exc:
                    if not is_oom(exc):
                        raise
                    parts.append(self._recover(names, fn, part, exc, split, merge))
            return merge(parts)
        with residency.lock:
            for name in names:
                residency.fall_back(name, f"out of memory on a single item ({first})")
            self._record("cpu")
        return fn(batch)

    def _record(self, action: str) -> None:
        self.counters.recoveries += 1
        self.counters.actions[action] += 1
