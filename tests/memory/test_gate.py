"""The phase gate: no overlap of phases, one switch per group, no starvation, failures surface."""

from __future__ import annotations

import asyncio

import pytest

from redheart_core.memory.gate import PhaseGate


class Recorder:
    """Enters phases instantly (or slowly), and checks nobody of the old phase is still inside."""

    def __init__(self, delay: float = 0.0):
        self.entered: list[str] = []
        self.inside: dict[str, int] = {}
        self.delay = delay
        self.gate = PhaseGate(self.enter, group_limit=4)

    async def enter(self, phase: str) -> None:
        assert sum(self.inside.values()) == 0, f"entered {phase!r} while {self.inside} still ran"
        self.entered.append(phase)
        await asyncio.sleep(self.delay)

    async def work(self, phase: str, seconds: float = 0.001, log: list | None = None) -> None:
        async with self.gate.hold(phase):
            assert self.gate.phase == phase
            others = {p: n for p, n in self.inside.items() if p != phase and n}
            assert not others, f"{phase!r} work overlaps {others}"
            self.inside[phase] = self.inside.get(phase, 0) + 1
            try:
                await asyncio.sleep(seconds)
                if log is not None:
                    log.append(phase)
            finally:
                self.inside[phase] -= 1


async def test_many_holders_share_a_phase_and_never_overlap_another():
    rec = Recorder()
    jobs = [rec.work(p, 0.002) for p in ["red_heart", "llm", "circuit"] * 20]
    await asyncio.gather(*jobs)
    assert rec.gate.holders == 0 and not rec.gate.waiting()


async def test_waiters_are_grouped_so_a_phase_is_entered_once_per_group():
    rec = Recorder(delay=0.005)
    requests = []
    for i in range(30):  # interleaved arrivals: naive FIFO would switch ~30 times
        requests.append(rec.work("red_heart" if i % 2 else "llm", 0.002))
    await asyncio.gather(*requests)
    assert len(rec.entered) <= 3, rec.entered


async def test_a_waiting_phase_is_not_starved_by_a_steady_stream_of_another():
    order: list[str] = []

    async def enter(phase):
        order.append(f"enter {phase}")

    gate = PhaseGate(enter, group_limit=2)
    release = asyncio.Event()

    async def hold(phase, tag):
        async with gate.hold(phase):
            order.append(tag)
            if phase == "red_heart":
                await release.wait()

    first = asyncio.ensure_future(hold("red_heart", "rh0"))
    await asyncio.sleep(0)
    llm = asyncio.ensure_future(hold("llm", "llm"))
    await asyncio.sleep(0)
    late = [asyncio.ensure_future(hold("red_heart", f"rh{i}")) for i in range(1, 5)]
    await asyncio.sleep(0.001)
    # two more red_heart holders joined past the waiting llm request, the rest queue
    assert gate.holders == 3 and gate.waiting() == {"llm": 1, "red_heart": 2}
    release.set()
    await asyncio.gather(first, llm, *late)
    assert order.index("llm") < order.index("rh3") and order.index("llm") < order.index("rh4")
    assert order.count("enter red_heart") == 2 and order.count("enter llm") == 1


async def test_a_failed_phase_entry_reaches_its_group_and_the_gate_goes_on():
    entered = []

    async def enter(phase):
        if phase == "broken":
            raise RuntimeError("cannot load module 'x'")
        entered.append(phase)

    gate = PhaseGate(enter)

    async def hold(phase):
        async with gate.hold(phase):
            await asyncio.sleep(0.001)
        return phase

    results = await asyncio.gather(hold("llm"), hold("broken"), hold("red_heart"),
                                   return_exceptions=True)
    assert results[0] == "llm" and results[2] == "red_heart"
    assert isinstance(results[1], RuntimeError)
    assert gate.holders == 0


async def test_a_cancelled_waiter_leaves_no_trace():
    rec = Recorder()
    async with rec.gate.hold("llm"):
        waiter = asyncio.ensure_future(rec.work("red_heart"))
        await asyncio.sleep(0.001)
        assert rec.gate.waiting() == {"red_heart": 1}
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await asyncio.sleep(0.001)
    assert rec.gate.holders == 0 and rec.entered == ["llm"]
    await rec.work("circuit")
    assert rec.entered == ["llm", "circuit"]


def test_the_gate_outlives_an_event_loop():
    rec = Recorder()
    asyncio.run(rec.work("llm"))
    asyncio.run(rec.work("red_heart"))
    assert rec.entered == ["llm", "red_heart"]
