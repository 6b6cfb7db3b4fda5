"""The manager's accounting on the CPU "device": residency, budget, eviction, refusals, OOM."""

from __future__ import annotations

import asyncio

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redheart_core.memory import (AutoStrategy, MemoryBudgetError, PhaseSwapStrategy,
                                  ResidentStrategy, SwapOptions, UnifiedMemoryManager)

KIB = 1024


def swap_manager(limit_kib: int, prefetch: bool = False) -> UnifiedMemoryManager:
    return UnifiedMemoryManager("cpu", limit_kib * KIB, PhaseSwapStrategy(SwapOptions(prefetch=prefetch)),
                                headroom=0.0)


def host_pointer(umm: UnifiedMemoryManager, name: str) -> int:
    return umm.residency.entry(name).offload.host[0].data_ptr()


def on_device_of(umm: UnifiedMemoryManager, name: str, fn):
    """``fn(batch, device)`` as ``fn(batch)``, told where ``name`` runs at each call."""
    return lambda batch: fn(batch, umm.device_of(name))


def weight_pointer(module: torch.nn.Module) -> int:
    return module.weight.untyped_storage().data_ptr()


async def test_a_phases_working_set_is_resident_inside_its_block(linear):
    umm = swap_manager(40)
    enc, head, llm = linear(16), linear(16, seed=1), linear(16, seed=2)
    umm.register("encoder", enc, {"red_heart"}, priority=2)
    umm.register("head", head, {"circuit"}, priority=1, depends_on=("encoder",))
    umm.register("llm", llm, {"llm"})
    async with umm.phase("circuit"):
        assert {"encoder", "head"} <= set(umm.resident_names())
        # the weights really live in the device buffers, not in the host copy
        assert weight_pointer(head) != host_pointer(umm, "head")
    async with umm.phase("llm"):
        assert "llm" in umm.resident_names()
        assert umm.resident_bytes() <= 40 * KIB


async def test_weights_and_outputs_survive_eviction_and_reload(linear):
    umm = swap_manager(20)
    a, b = linear(16, seed=3), linear(16, seed=4)
    x = torch.randn(3, 64)
    expected_a, expected_b = a(x), b(x)
    umm.register("a", a, {"red_heart"})
    umm.register("b", b, {"llm"})
    for _ in range(3):
        async with umm.phase("red_heart"):
            assert torch.equal(a(x), expected_a)
        async with umm.phase("llm"):
            assert umm.resident_names() == ["b"]
            assert torch.equal(b(x), expected_b)
    stats = umm.stats()
    assert stats["swaps_in"] == 6 and stats["swaps_out"] == 5
    assert stats["bytes_moved"] == 6 * 16 * KIB
    assert stats["swap_seconds"] > 0


async def test_eviction_takes_the_lowest_priority_first(linear):
    umm = swap_manager(48)
    umm.register("low", linear(16), {"red_heart"}, priority=0)
    umm.register("high", linear(16), {"red_heart"}, priority=9)
    umm.register("mid", linear(16), {"red_heart"}, priority=5)
    umm.register("newcomer", linear(16), {"llm"})
    async with umm.phase("red_heart"):
        assert umm.resident_names() == ["high", "low", "mid"]
    async with umm.phase("llm"):
        assert umm.resident_names() == ["high", "mid", "newcomer"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
       priorities=st.lists(st.integers(0, 3), min_size=6, max_size=6),
       phases=st.lists(st.sampled_from(["red_heart", "circuit", "llm"]), min_size=1, max_size=8),
       prefetch=st.booleans())
def test_budget_is_never_exceeded(linear, sizes, priorities, phases, prefetch):
    umm = swap_manager(16, prefetch=prefetch)
    names = ["red_heart", "circuit", "llm"]
    for i, kib in enumerate(sizes):
        umm.register(f"m{i}", linear(kib), {names[i % 3]}, priority=priorities[i])

    async def walk():
        for phase in phases:
            async with umm.phase(phase):
                assert umm.resident_bytes() <= 16 * KIB
                need = [f"m{i}" for i in range(len(sizes)) if names[i % 3] == phase]
                if sum(sizes[i] for i in range(len(sizes)) if names[i % 3] == phase) <= 16:
                    assert set(need) <= set(umm.resident_names())

    asyncio.run(walk())
    assert umm.stats()["peak_resident_bytes"] <= 16 * KIB


def test_a_module_larger_than_the_budget_is_refused_with_what_to_change(linear):
    umm = swap_manager(8)
    with pytest.raises(MemoryBudgetError) as info:
        umm.register("big_llm", linear(16), {"llm"})
    message = str(info.value)
    assert "'big_llm'" in message and "16.0 KiB" in message and "8.0 KiB" in message
    assert "memory.vram_budget_gb" in message
    assert umm.footprints() == {}


def test_resident_refuses_a_module_that_makes_the_total_overflow(linear):
    umm = UnifiedMemoryManager("cpu", 24 * KIB, ResidentStrategy(), headroom=0.0)
    umm.register("a", linear(16), {"red_heart"})
    assert umm.resident_names() == ["a"]
    with pytest.raises(MemoryBudgetError, match="cannot register module 'b'.*phase_swap"):
        umm.register("b", linear(16), {"llm"})


def test_registering_a_name_twice_returns_the_first_module(linear):
    umm = swap_manager(64)
    first, second = linear(8), linear(8)
    assert umm.register("embedder", first, {"red_heart"}) is first
    assert umm.register("embedder", second, {"circuit"}) is first
    assert len(umm.footprints()) == 1 and umm.footprints()["embedder"].bytes == 8 * KIB


def test_tied_weights_are_counted_once():
    embed = torch.nn.Embedding(64, 16)
    head = torch.nn.Linear(16, 64, bias=False)
    head.weight = embed.weight
    model = torch.nn.Sequential(embed, head)
    umm = swap_manager(64)
    umm.register("tied", model)
    assert umm.footprints()["tied"].bytes == 64 * 16 * 4
    assert model[0].weight is model[1].weight


async def test_auto_is_cpu_without_an_accelerator(linear):
    umm = UnifiedMemoryManager("cpu", 8 * KIB, AutoStrategy())
    assert umm.strategy_name == "cpu" and umm.device == "cpu"
    module = linear(16)  # larger than the budget: the budget is for accelerators only
    umm.register("big", module, {"llm"})
    async with umm.phase("llm"):
        assert umm.resident_names() == [] and umm.device_of("big").type == "cpu"


def test_auto_on_a_device_is_resident_while_everything_fits_then_phase_swap():
    from redheart_core.memory import AutoStrategy, Budget, ModuleFootprint

    budget = Budget(32 * KIB, 0.0)
    small = {"a": ModuleFootprint("a", 16 * KIB, frozenset({"red_heart"}))}
    large = {**small, "b": ModuleFootprint("b", 20 * KIB, frozenset({"llm"}))}
    auto = AutoStrategy()
    assert auto.resolve("cuda", small, budget).name == "resident"
    assert auto.resolve("cuda", large, budget).name == "phase_swap"
    assert auto.resolve("cpu", large, budget).name == "cpu"
    assert auto.resolve("cuda", large, budget).prefetch


async def test_out_of_memory_retries_then_splits_then_runs_on_cpu(linear):
    umm = swap_manager(64)
    umm.register("head", linear(8), {"red_heart"})
    calls = []

    def flaky(batch, device):
        calls.append(len(batch))
        if len(calls) <= 2 or (len(batch) > 1 and len(calls) <= 5):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"ok:{item}" for item in batch]

    async with umm.phase("red_heart"):
        out = await asyncio.to_thread(umm.run_recovering, on_device_of(umm, "head", flaky),
                                    [1, 2, 3, 4], "head")
    assert out == ["ok:1", "ok:2", "ok:3", "ok:4"]  # every request answered, in order
    stats = umm.stats()
    assert stats["oom_recoveries"] >= 3 and stats["oom_actions"]["split"] >= 1


def test_a_single_item_that_keeps_failing_moves_the_module_to_cpu(linear):
    umm = swap_manager(64)
    umm.register("head", linear(8), {"red_heart"})
    seen = []

    def needs_cpu(batch, device):
        seen.append(device.type)
        if len(seen) <= 2:
            raise RuntimeError("CUDA error: out of memory")
        return [device.type for _ in batch]

    assert umm.run_recovering(on_device_of(umm, "head", needs_cpu), ["x"], "head") == ["cpu"]
    stats = umm.stats()
    assert stats["oom_actions"] == {"retry": 1, "split": 0, "cpu": 1}
    assert stats["cpu_fallbacks"] == ["head"]


def test_errors_other_than_out_of_memory_propagate(linear):
    umm = swap_manager(64)
    umm.register("head", linear(8), {"red_heart"})

    def broken(batch, device):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        umm.run_recovering(on_device_of(umm, "head", broken), [1], "head")
    assert umm.stats()["oom_recoveries"] == 0
    with pytest.raises(KeyError, match="registered: head"):
        umm.run_recovering(on_device_of(umm, "nope", broken), [1], "nope")


def test_a_single_item_that_keeps_failing_moves_every_named_module_to_cpu(linear):
    umm = swap_manager(64)
    umm.register("encoder", linear(8), {"red_heart"})
    umm.register("head", linear(8, seed=1), {"red_heart"})
    failures = iter([True, True])

    def forward(batch, device):
        if next(failures, False):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return ["done" for _ in batch]

    assert umm.run_recovering(on_device_of(umm, "encoder", forward), ["x"], "encoder", "head") == ["done"]
    assert umm.stats()["cpu_fallbacks"] == ["encoder", "head"]


class Component:
    """An analyzer-like component: declares its modules, places its own inputs."""

    def __init__(self, modules):
        self._modules = modules

    def modules(self):
        return dict(self._modules)


async def test_run_recovering_finds_a_components_modules_when_the_oom_happens(linear):
    umm = swap_manager(64)
    component = Component({})
    calls = []

    def lazily_loading(batch):
        calls.append(list(batch))
        if len(calls) == 1:  # the model is loaded and registered on first use, then runs out
            head = linear(8)
            umm.register("lazy_head", head, {"red_heart"})
            component._modules["lazy_head"] = head
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return [item * 10 for item in batch]

    async with umm.phase("red_heart"):
        out = await asyncio.to_thread(umm.run_recovering, lazily_loading, [1, 2, 3, 4], component)
    assert out == [10, 20, 30, 40]
    assert umm.stats()["oom_actions"] == {"retry": 1, "split": 1, "cpu": 0}


def test_run_recovering_gives_back_the_error_of_a_component_with_no_managed_module(linear):
    umm = swap_manager(64)
    umm.register("head", linear(8), {"red_heart"})
    unmanaged = Component({"elsewhere": linear(8)})

    def runs_out(batch):
        raise torch.OutOfMemoryError("CUDA out of memory (not ours)")

    with pytest.raises(torch.OutOfMemoryError, match="not ours"):
        umm.run_recovering(runs_out, [1, 2], unmanaged)
    with pytest.raises(torch.OutOfMemoryError, match="not ours"):
        umm.run_recovering(runs_out, [1, 2], object())
    assert umm.stats()["oom_recoveries"] == 0
    assert umm.run_recovering(lambda batch: list(batch), [1, 2], unmanaged) == [1, 2]


async def test_the_next_phase_is_prefetched_into_free_room(linear):
    umm = swap_manager(64, prefetch=True)
    umm.register("enc", linear(16), {"red_heart"})
    umm.register("circ", linear(16), {"circuit"})
    async with umm.phase("red_heart"):
        pass
    await umm._prefetch_task
    assert set(umm.resident_names()) == {"enc", "circ"}
    before = umm.stats()["swaps_in"]
    async with umm.phase("circuit"):
        assert "circ" in umm.resident_names()
    assert umm.stats()["swaps_in"] == before and umm.stats()["prefetches"] >= 1


def test_prefetching_managers_survive_one_event_loop_after_another(linear):
    umm = swap_manager(64, prefetch=True)
    umm.register("enc", linear(16), {"red_heart"})
    umm.register("out", linear(16), {"llm"})

    async def one_request():
        async with umm.phase("red_heart"):
            pass
        async with umm.phase("llm"):
            assert "out" in umm.resident_names()

    for _ in range(3):  # as the sync analyze() does: a fresh loop per call
        asyncio.run(one_request())
    assert umm.gate.holders == 0


async def test_a_module_that_cannot_be_loaded_runs_from_host_memory_for_the_phase(linear):
    umm = swap_manager(64)
    module = linear(16, seed=5)
    x = torch.randn(2, 64)
    expected = module(x)
    umm.register("head", module, {"circuit"})
    umm.register("llm", linear(8), {"llm"})
    offload = umm.residency.entry("head").offload
    real_load, failures = offload.load, []

    def load_with_device_full(stream=None):
        if len(failures) < 2:
            failures.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory (another process)")
        return real_load(stream)

    offload.load = load_with_device_full
    async with umm.phase("circuit"):
        assert umm.resident_names() == [] and umm.device_of("head").type == "cpu"
        assert torch.equal(module(x), expected)
    assert umm.stats()["spills"] == 1
    async with umm.phase("llm"):
        pass
    async with umm.phase("circuit"):  # the next entry finds room on the device again
        assert "head" in umm.resident_names()


async def test_a_phase_without_modules_overlaps_freely_under_a_device_strategy(linear):
    umm = swap_manager(32)
    umm.register("enc", linear(16), {"red_heart"})
    umm.register("circ", linear(16), {"circuit"})
    api_call_running = asyncio.Event()
    finish_api_call = asyncio.Event()

    async def api_llm_call():
        async with umm.phase("llm"):  # no module: an API backend's phase
            api_call_running.set()
            await finish_api_call.wait()

    call = asyncio.ensure_future(api_llm_call())
    await api_call_running.wait()
    for phase, module in (("red_heart", "enc"), ("circuit", "circ"), ("red_heart", "enc")):
        async with umm.phase(phase):  # not held up by the API call
            assert module in umm.resident_names()
    finish_api_call.set()
    await call
    assert umm.stats()["free_holds"] == 1 and umm.gate.switches == 3


async def test_a_module_registered_in_a_free_phase_never_moves_under_its_holders(linear):
    umm = swap_manager(32)
    umm.register("enc", linear(16), {"red_heart"})
    late = linear(16, seed=9)
    loaded = asyncio.Event()
    done = asyncio.Event()
    devices = []

    async def first_llm_request():
        async with umm.phase("llm"):  # free: the local model is not loaded yet
            umm.register("llm.local", late, {"llm"})  # loads lazily on first use
            loaded.set()
            await done.wait()
            devices.append(late.weight.untyped_storage().data_ptr())

    async def second_llm_request():
        await loaded.wait()
        async with umm.phase("llm"):  # no longer free: waits for the first to leave
            devices.append("gated")

    first = asyncio.ensure_future(first_llm_request())
    second = asyncio.ensure_future(second_llm_request())
    await loaded.wait()
    host = umm.residency.entry("llm.local").offload.host[0].data_ptr()
    await asyncio.sleep(0.01)
    assert devices == []  # the gated request waits while the free holder runs
    done.set()
    await asyncio.gather(first, second)
    assert devices == [host, "gated"]  # the first ran from host memory, untouched
    assert "llm.local" in umm.resident_names()


def test_the_strategy_is_resolved_once_when_the_manager_is_built():
    resolved = []

    class Counting(PhaseSwapStrategy):
        def resolve(self, device_type, footprints, budget):
            resolved.append(device_type)
            return super().resolve(device_type, footprints, budget)

    umm = UnifiedMemoryManager("cpu", 8 * KIB, Counting())
    assert resolved == ["cpu"] and umm.strategy_name == "phase_swap"
    assert not hasattr(umm, "run") and not hasattr(umm, "run_with_oom_recovery")
