"""Memory manager: swap-in bandwidth, eviction cost, peak device memory, plan and gate overhead.

Targets (on CUDA): swap-in at least 0.8x a raw pinned host-to-device copy of the same bytes and
at least 5x a pageable ``module.to("cuda")``, both measured in this run; eviction under 10 ms
per GB; a phase loop over modules twice the budget peaks (NVML) within the budget.
Without CUDA the GPU figures cannot be measured and are reported as such; the CPU run checks
the manager's own overhead against a bare ``copy_`` of the same bytes, and times plans and the
phase gate.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Callable

GIB, MIB = 1024 ** 3, 1024 ** 2


def layered_model(total_bytes: int, layers: int = 24, device: str = "cpu"):
    """A transformer-shaped stack of Linear + LayerNorm of about ``total_bytes`` (float32)."""
    import torch

    width = int((total_bytes / layers / 4) ** 0.5)
    blocks = []
    for _ in range(layers):
        blocks += [torch.nn.Linear(width, width), torch.nn.LayerNorm(width)]
    return torch.nn.Sequential(*blocks).to(device)


def best_of(runs: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(runs))


# ------------------------------------------------------------------------ CUDA figures


def raw_pinned_seconds(nbytes: int) -> float:
    import torch

    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    dev.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def pageable_to_seconds(model) -> float:
    import torch

    model.to("cpu")
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.to("cuda")
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.to("cpu")
    return seconds


def manager_swap_figures(model_bytes: int, rounds: int = 3) -> dict[str, float]:
    """Swap two models of ``model_bytes`` in and out of a budget that holds one."""
    from redheart_core.memory import PhaseSwapStrategy, SwapOptions, UnifiedMemoryManager

    umm = UnifiedMemoryManager("cuda", int(model_bytes * 1.5), PhaseSwapStrategy(
        SwapOptions(prefetch=False)), headroom=0.0)
    umm.register("a", layered_model(model_bytes), {"red_heart"})
    umm.register("b", layered_model(model_bytes), {"llm"})
    swap_in, evict = [], []

    async def cycle():
        for _ in range(rounds):
            for phase in ("red_heart", "llm"):
                before = umm.stats()
                async with umm.phase(phase):
                    pass
                after = umm.stats()
                moved = after["bytes_moved"] - before["bytes_moved"]
                load_s = (after["swap_seconds"] - before["swap_seconds"]
                          - (after["evict_seconds"] - before["evict_seconds"]))
                if moved:
                    swap_in.append(moved / load_s)
                if after["swaps_out"] > before["swaps_out"]:
                    evict.append((after["evict_seconds"] - before["evict_seconds"])
                                 / (model_bytes / GIB) * 1000)

    asyncio.run(cycle())
    return {"swap_in_bytes_per_s": statistics.median(swap_in),
            "evict_ms_per_gb": statistics.median(evict)}


def nvml_used(index: int = 0) -> int:
    import pynvml

    pynvml.nvmlInit()
    return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).used)


def peak_over_budget_loop(budget: int, requests: int = 200) -> dict[str, int]:
    """Modules adding up to twice ``budget`` driven through 200 request-like phase cycles,
    with NVML sampled in a thread; returns the peak used above the starting level."""
    import torch

    from redheart_core.memory import PhaseSwapStrategy, UnifiedMemoryManager

    torch.cuda.init()
    torch.zeros(1, device="cuda")
    umm = UnifiedMemoryManager("cuda", budget, PhaseSwapStrategy(), headroom=0.2)
    share = budget * 2 // 3
    modules = {phase: layered_model(share, 8) for phase in ("red_heart", "circuit", "llm")}
    for phase, model in modules.items():
        umm.register(phase, model, {phase})
    torch.cuda.synchronize()
    base = nvml_used()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], nvml_used())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def request(i: int):
        for phase, model in modules.items():
            async with umm.phase(phase):
                width = model[0].in_features
                x = torch.randn(4, width, device=umm.device_of(phase))
                await asyncio.to_thread(lambda: model(x).sum().item())

    async def all_requests():
        sem = asyncio.Semaphore(16)

        async def limited(i):
            async with sem:
                await request(i)

        await asyncio.gather(*(limited(i) for i in range(requests)))

    asyncio.run(all_requests())
    done.set()
    sampler.join()
    return {"peak_above_start": peak[0] - base, "swaps_in": umm.stats()["swaps_in"],
            "oom_recoveries": umm.stats()["oom_recoveries"]}


def cuda_figures() -> bool:
    import torch

    nbytes = 1 * GIB
    raw = nbytes / best_of(3, lambda: raw_pinned_seconds(nbytes))
    model = layered_model(nbytes)
    pageable = nbytes / best_of(3, lambda: pageable_to_seconds(model))
    del model
    swap = manager_swap_figures(nbytes)
    loop = peak_over_budget_loop(2 * GIB)
    name = torch.cuda.get_device_name(0)
    print(f"device: {name}")
    print(f"raw pinned H2D copy (baseline)  {raw / GIB:7.2f} GiB/s")
    print(f"pageable module.to('cuda')      {pageable / GIB:7.2f} GiB/s")
    ratio_raw, ratio_pageable = swap["swap_in_bytes_per_s"] / raw, swap["swap_in_bytes_per_s"] / pageable
    print(f"manager swap-in                 {swap['swap_in_bytes_per_s'] / GIB:7.2f} GiB/s  "
          f"= {ratio_raw:.2f}x raw (target >= 0.8), {ratio_pageable:.1f}x pageable (target >= 5)")
    print(f"eviction                        {swap['evict_ms_per_gb']:7.3f} ms/GB (target < 10)")
    print(f"200 requests, modules 2x a 2 GiB budget: NVML peak {loop['peak_above_start'] / GIB:.2f} "
          f"GiB above start (target <= 2), {loop['swaps_in']} swaps in, "
          f"{loop['oom_recoveries']} OOM recoveries")
    return (ratio_raw >= 0.8 and ratio_pageable >= 5 and swap["evict_ms_per_gb"] < 10
            and loop["peak_above_start"] <= 2 * GIB)


# ------------------------------------------------------------------------- CPU figures


def cpu_figures() -> bool:
    import torch

    from redheart_core.memory import (Budget, CpuStrategy, ModuleFootprint, PhaseSwapStrategy,
                                      SwapOptions, UnifiedMemoryManager, build_plan)

    nbytes = 128 * MIB
    src = torch.empty(nbytes, dtype=torch.uint8)

    def raw_copy() -> float:
        start = time.perf_counter()
        torch.empty(nbytes, dtype=torch.uint8).copy_(src)
        return time.perf_counter() - start

    raw = nbytes / best_of(5, raw_copy)
    umm = UnifiedMemoryManager("cpu", int(nbytes * 1.5), PhaseSwapStrategy(SwapOptions(prefetch=False)),
                               headroom=0.0)
    umm.register("a", layered_model(nbytes), {"red_heart"})
    umm.register("b", layered_model(nbytes), {"llm"})
    rates = []

    async def cycle():
        for _ in range(4):
            for phase in ("red_heart", "llm"):
                before = umm.stats()
                async with umm.phase(phase):
                    pass
                after = umm.stats()
                load_s = (after["swap_seconds"] - before["swap_seconds"]
                          - (after["evict_seconds"] - before["evict_seconds"]))
                if after["bytes_moved"] > before["bytes_moved"]:
                    rates.append((after["bytes_moved"] - before["bytes_moved"]) / load_s)

    asyncio.run(cycle())
    swap = max(rates)

    footprints = [ModuleFootprint(f"m{i}", (i % 7 + 1) * MIB, frozenset({("red_heart", "circuit",
                  "llm")[i % 3]}), priority=i % 5) for i in range(200)]
    start = time.perf_counter()
    for _ in range(20):
        build_plan(footprints, PhaseSwapStrategy(), "cuda", Budget(8 * GIB))
    plan_ms = (time.perf_counter() - start) / 20 * 1000

    gate_umm = UnifiedMemoryManager("cpu", GIB, CpuStrategy())

    async def holders():
        async def one(i):
            async with gate_umm.phase(("red_heart", "circuit", "llm")[i % 3]):
                await asyncio.sleep(0)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(3000)))
        return time.perf_counter() - start

    gate_us = asyncio.run(holders()) / 3000 * 1e6
    print("GPU figures (swap-in vs pinned/pageable copies, eviction ms/GB, NVML peak) need CUDA: "
          "not measured on this machine")
    print(f"CPU 'device': bare copy_ of {nbytes // MIB} MiB (baseline)  {raw / GIB:6.2f} GiB/s")
    print(f"CPU 'device': manager swap-in (48 tensors)   {swap / GIB:6.2f} GiB/s "
          f"= {swap / raw:.2f}x the bare copy (target >= 0.8)")
    print(f"plan for 200 modules                         {plan_ms:6.2f} ms")
    print(f"phase gate, 3000 holders over 3 phases        {gate_us:6.1f} us per hold "
          f"({gate_umm.gate.switches} phase switches)")
    return swap / raw >= 0.8


def main() -> bool:
    import torch

    if torch.cuda.is_available():
        return cuda_figures()
    return cpu_figures()


if __name__ == "__main__":
    main()
