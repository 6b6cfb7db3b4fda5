"""The real pipeline under a budget half the size of its modules, on the CPU "device".

The same run on CUDA (NVML peak, bandwidth) is in ``test_gpu.py``.
"""

from __future__ import annotations

import threading

import pytest
import torch

from redheart_core import hookimpl, load_config
from redheart_core.pipeline import Pipeline

from redheart_core.memory import module_bytes
from redheart_core.analyzers.embedder import embedder_from_config

KIB, MIB = 1024, 1024 ** 2
ROW = 64 * 4  # bytes per output row of a Linear(64, n) in float32


def linear_bytes(nbytes: int) -> torch.nn.Linear:
    return torch.nn.Linear(64, max(1, nbytes // ROW), bias=False)


class BudgetedAnalyzer:
    """Runs its module through the manager and notes whether it was resident when it ran."""

    def __init__(self, name, stage, runtime, plugin, nbytes, *, oom_every=0):
        self.name, self.stage, self.requires = name, stage, ()
        self.runtime, self.plugin = runtime, plugin
        self.module = linear_bytes(nbytes)
        runtime.memory.register(name, self.module, phases={stage}, priority=1)
        self.oom_every = oom_every
        self.calls = 0

    def analyze_batch(self, items):
        umm = self.runtime.memory

        def forward(batch, device):
            self.calls += 1
            if self.oom_every and self.calls % self.oom_every == 0:
                raise torch.OutOfMemoryError("CUDA out of memory (forced by the test)")
            with self.plugin.lock:
                self.plugin.seen.append((self.name, self.name in umm.resident_names(),
                                         umm.current_phase))
            x = torch.ones(len(batch), 64, device=device)
            with torch.no_grad():
                # reads every weight on the device with tiny activations (GB-sized modules)
                return [{"score": float(v)} for v in x @ self.module.weight.sum(dim=0)]

        return umm.run_recovering(lambda batch: forward(batch, umm.device_of(self.name)),
                                  list(items), self.name)


class BudgetPlugin:
    def __init__(self):
        self.seen: list[tuple[str, bool, str]] = []
        self.lock = threading.Lock()
        self.sizes = {"red_heart": 8 * MIB, "circuit": 8 * MIB, "llm": 8 * MIB}

    @hookimpl
    def redheart_register_analyzers(self, register):
        def red_heart(options, runtime):
            # the LLM-phase module a local backend would register
            runtime.memory.register("bp_llm_model", linear_bytes(self.sizes["llm"]),
                                    phases={"llm"}, priority=0)
            return BudgetedAnalyzer("bp_red_heart", "red_heart", runtime, self,
                                    self.sizes["red_heart"], oom_every=7)

        register("bp_red_heart", red_heart)
        register("bp_circuit", lambda options, runtime: BudgetedAnalyzer(
            "bp_circuit", "circuit", runtime, self, self.sizes["circuit"]), stage="circuit")


@pytest.fixture
def budget_plugin(redheart_plugin):
    plugin = BudgetPlugin()
    redheart_plugin(plugin, "memory-budget-test")
    return plugin


class NvmlPeak:
    """Device-wide memory used (NVML), sampled in a thread, above the level at start."""

    def __init__(self):
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        self.start = self.peak = self.used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.used())
            self._stop.wait(0.001)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.start


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
async def test_200_requests_with_modules_twice_the_budget_lose_nothing(budget_plugin, device):
    headroom = 0.0 if device == "cpu" else 0.2  # on CUDA: room for activations and cuBLAS
    settings = ["llm.backend=none", "analyzers=[bp_red_heart,bp_circuit]",
                f"memory.device={device}", f"embedding.device={device}",
                "memory.strategy=phase_swap", f"memory.headroom={headroom}",
                "pipeline.concurrency=32", "pipeline.batch_size=8"]
    nvml = None
    if device == "cuda":
        torch.ones(64, 64, device="cuda") @ torch.ones(64, 64, device="cuda")  # context, cuBLAS
        torch.cuda.synchronize()
        nvml = NvmlPeak()
    # the shared embedder and the model heads it carries (red_heart phase) are part of the
    # pipeline: size the rest around them
    shared = embedder_from_config(load_config(overrides=settings).embedding)
    embedder = sum(module_bytes(m) for m in shared.modules().values())
    budget = embedder + 8 * MIB if device == "cpu" else 2 * 1024 ** 3
    limit = int(budget * (1 - headroom))
    sizes = budget_plugin.sizes
    sizes["red_heart"] = limit - embedder - ROW
    sizes["circuit"] = sizes["llm"] = (2 * budget - embedder - sizes["red_heart"]) // 2
    cfg = load_config(overrides=[*settings, f"memory.vram_budget_gb={budget / 1024 ** 3!r}"])
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many([f"situation {i}" for i in range(200)])
        umm = pipe.runtime.memory
        stats = umm.stats()
    peak_above_start = nvml.stop() if nvml else None
    assert len(results) == 200
    assert [r.errors for r in results if r.errors] == []
    total = sum(f.bytes for f in umm.footprints().values())
    assert total >= 2 * budget - 2 * ROW and stats["budget_bytes"] == budget
    assert stats["peak_resident_bytes"] <= limit
    assert stats["oom_recoveries"] > 0  # forced OOMs were recovered, no request lost
    assert stats["spills"] == 0 and stats["cpu_fallbacks"] == []
    # every analyzer ran with its module resident, inside its own phase
    assert budget_plugin.seen and all(resident and phase == name.removeprefix("bp_")
                                      for name, resident, phase in budget_plugin.seen)
    # swaps happen per group of requests, not per request
    assert stats["swaps_in"] < 200
    if nvml is not None:
        assert peak_above_start <= budget, f"NVML peak {peak_above_start} > budget {budget}"
