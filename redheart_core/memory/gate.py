"""The phase gate: many holders of one phase at a time, phase changes only when it is empty.

A phase change waits until no holder of the old phase remains, so work of two phases never
overlaps (the old system's CPU/GPU asymmetry). Waiters are grouped by phase: when the gate
empties, the phase whose oldest waiter came first is entered once and its whole group is let
in together, so a swap is paid once per group, not once per request. While another phase
waits, newcomers to the current phase may still join, but only ``group_limit`` of them: after
that they queue too, and the waiting phase gets its turn (no starvation).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable


@dataclass(order=True)
class _Waiter:
    seq: int
    future: asyncio.Future = field(compare=False)


class PhaseGate:
    """``async with gate.hold(phase)``; ``enter(phase)`` runs (awaited) before a new phase's
    group is admitted: the memory manager makes the phase's working set resident there."""

    def __init__(self, enter: Callable[[str], Awaitable[None]], group_limit: int = 64):
        self._enter = enter
        self.group_limit = max(0, int(group_limit))
        self.phase: str | None = None
        self.holders = 0
        self.switches = 0
        self._joined_past_waiters = 0
        self._waiting: dict[str, deque[_Waiter]] = {}
        self._seq = itertools.count()
        self._switch_task: asyncio.Task | None = None

    # ---------------------------------------------------------------- queries
    def waiting(self) -> dict[str, int]:
        """Waiters per phase (cancelled ones excluded)."""
        return {p: sum(not w.future.done() for w in q) for p, q in self._waiting.items()
                if any(not w.future.done() for w in q)}

    def next_phase(self) -> str | None:
        """The phase the gate will enter next, if any request waits for one."""
        heads = [(q[0], p) for p, q in self._waiting.items() if q]
        return min(heads)[1] if heads else None

    # --------------------------------------------------------------- holding
    @asynccontextmanager
    async def hold(self, phase: str) -> AsyncIterator[None]:
        await self._acquire(phase)
        try:
            yield
        finally:
            self._release()

    def _others_waiting(self, phase: str) -> bool:
        return any(p != phase and q for p, q in self._waiting.items())

    def _switching(self) -> bool:
        task = self._switch_task
        if task is not None and (task.done() or task.get_loop() is not asyncio.get_running_loop()):
            self._switch_task = task = None  # left behind by a closed event loop
        return task is not None

    def _may_join(self, phase: str) -> bool:
        if self._switching() or phase != self.phase or self._waiting.get(phase):
            return False
        if self.holders == 0:
            return True
        return not self._others_waiting(phase) or self._joined_past_waiters < self.group_limit

    async def _acquire(self, phase: str) -> None:
        if self._may_join(phase):
            if self._others_waiting(phase):
                self._joined_past_waiters += 1
            self.holders += 1
            return
        waiter = _Waiter(next(self._seq), asyncio.get_running_loop().create_future())
        self._waiting.setdefault(phase, deque()).append(waiter)
        if self.holders == 0:
            self._schedule_switch()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() \
                    and waiter.future.exception() is None:
                self._release()  # admitted just as we were cancelled: give the place back
            else:
                self._forget(phase, waiter)
            raise

    def _forget(self, phase: str, waiter: _Waiter) -> None:
        queue = self._waiting.get(phase)
        if queue and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[phase]

    def _release(self) -> None:
        self.holders -= 1
        if self.holders == 0 and self._waiting:
            self._schedule_switch()

    def _schedule_switch(self) -> None:
        if not self._switching():
            self._switch_task = asyncio.get_running_loop().create_task(self._switch())

    async def _switch(self) -> None:
        """Admit the group of the oldest waiter, entering its phase first when it changes."""
        try:
            while self._waiting and self.holders == 0:
                phase = self.next_phase()
                group = self._waiting.pop(phase)
                live = [w for w in group if not w.future.done()]
                if not live:
                    continue
                if phase != self.phase:
                    try:
                        await self._enter(phase)
                    except Exception as exc:  # the group learns why; later groups still run
                        for w in live:
                            if not w.future.done():
                                w.future.set_exception(exc)
                        self.phase = None
                        continue
                    self.phase = phase
                    self.switches += 1
                self._joined_past_waiters = 0
                for w in live:
                    if not w.future.done():
                        self.holders += 1
                        w.future.set_result(None)
                # Newcomers queued behind the switch join this group.
                for w in self._waiting.pop(phase, ()):
                    if not w.future.done():
                        self.holders += 1
                        w.future.set_result(None)
        finally:
            self._switch_task = None
