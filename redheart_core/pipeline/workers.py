"""One worker thread per device for all torch work: embedding, analyzers, translation.

Torch work never runs on the event loop (it would stall every other request), and never on
more than one thread per device (kernels from two threads would only contend for the same
device and the same CPU cores). Work for one device runs in submission order.

The one exception is :meth:`DeviceWorkers.run_beside`, on the CPU: the encoder splits its
batches across single-threaded workers, one per core, while the analyzers' Python on the device
worker holds one core at a time, so encoding texts ahead there overlaps the two.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

R = TypeVar("R")

#: the thread of :meth:`DeviceWorkers.run_beside` on the CPU
BESIDE_CPU = "cpu-beside"


class DeviceWorkers:
    def __init__(self, default_device: str = "cpu"):
        self.default_device = default_device
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def _executor(self, device: str) -> ThreadPoolExecutor:
        executor = self._executors.get(device)
        if executor is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"redheart-{device}")
            self._executors[device] = executor
        return executor

    async def run(self, fn: Callable[..., R], *args: Any, device: str | None = None) -> R:
        """Run ``fn(*args)`` on the device's worker thread (context variables carried along)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(device or self.default_device), call)

    async def run_beside(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` on a second CPU thread beside the default device's worker when that
        device is the CPU (work that may overlap the analyzers: reading texts ahead); on any
        other device, on its worker as :meth:`run` does."""
        if self.default_device != "cpu":
            return await self.run(fn, *args)
        return await self.run(fn, *args, device=BESIDE_CPU)

    @property
    def devices(self) -> list[str]:
        return sorted(self._executors)

    def shutdown(self) -> None:
        """Stop the threads; work already submitted finishes first."""
        for executor in self._executors.values():
            executor.shutdown(wait=True, cancel_futures=True)
        self._executors.clear()
