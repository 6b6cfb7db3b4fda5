"""The stand-in for ``runtime.memory`` when no memory manager is part of the runtime.

The pipeline enters ``memory.phase(name)`` around each stage; without a manager there is
nothing to swap, so a phase is free to enter and the statistics are empty.
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator


class NullMemory:
    device = "cpu"
    strategy_name = "none"

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        yield

    def stats(self) -> dict[str, float]:
        return {}

    def peak_gpu_bytes(self) -> int:
        return 0
