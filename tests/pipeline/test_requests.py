"""One request and many: stages, ordering, failures, cancellation, backpressure."""

from __future__ import annotations

import asyncio
import time

import pytest

from redheart_core import hookimpl
from redheart_core.errors import ConfigError
from redheart_core.pipeline import Pipeline, QueueFull, analyze
from redheart_core.pipeline.stages import StageHandler
from redheart_core.schema import STAGES, AnalysisResult

TEXT = "My friend asked me to lie to cover for him at work."


async def test_a_request_runs_every_stage_and_fills_the_result(plugin, make_config):
    cfg = make_config(analyzers=["pt_length", "pt_reader", "pt_circuit"])
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(TEXT, request_id="r-1")
    assert result.ok, result.errors
    assert result.request_id == "r-1" and result.language == "en"
    assert result.llm.backend == "scripted" and result.llm.model == "scripted-1"
    assert result.llm.initial.stakeholders == ["friend", "me"]
    assert result.llm.summary == "The situation asks for honesty."
    assert result.llm.usage == {"input_tokens": 40, "output_tokens": 27}
    assert result.extras["pt_length"]["chars"] == len(TEXT)
    assert result.extras["pt_reader"]["upstream"] == ["pt_length"]
    assert result.extras["pt_circuit"]["initial"] is True
    assert set(result.timings_ms) == {*STAGES, "total"}
    assert result.timings_ms["total"] >= result.timings_ms["llm_initial"]
    assert result.provenance.config_hash and "pipeline-test" in result.provenance.plugins
    assert result.provenance.models["llm"] == "scripted-1"
    assert result.provenance.models["pt_circuit_model"] == "pt_circuit-v1"
    assert result.memory.strategy
    assert plugin.backend.closed, "leaving the pipeline closes the backend"


async def test_the_circuit_analyzer_runs_after_the_red_heart_ones(plugin, make_config):
    cfg = make_config(analyzers=["pt_circuit", "pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        await pipe.analyze(TEXT)
    calls = {c.analyzer: c for c in plugin.analyzer_calls}
    assert calls["pt_length"].end <= calls["pt_circuit"].start


async def test_torch_work_runs_on_one_worker_thread_not_the_event_loop(plugin, make_config):
    cfg = make_config("pipeline.batch_size=2", analyzers=["pt_length", "pt_circuit"])
    async with Pipeline.from_config(cfg) as pipe:
        await pipe.analyze_many([TEXT] * 6)
    threads = {c.thread for c in plugin.analyzer_calls}
    assert len(threads) == 1 and next(iter(threads)).startswith("redheart-cpu")


async def test_requests_leave_in_priority_order_then_arrival_order(plugin, make_config):
    cfg = make_config("pipeline.concurrency=1", delay_s=0.1)
    finished: list[str] = []
    async with Pipeline.from_config(cfg) as pipe:

        async def submit(name: str, priority: int) -> None:
            await pipe.analyze(name, priority=priority)
            finished.append(name)

        tasks = [asyncio.create_task(submit("first", 0))]
        await asyncio.sleep(0.01)  # "first" holds the only slot; the rest queue up
        for name, priority in [("low-a", 0), ("high", 9), ("low-b", 0), ("mid", 5)]:
            tasks.append(asyncio.create_task(submit(name, priority)))
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert pipe.stats()["queue_depth"] == 4
        await asyncio.gather(*tasks)
    assert finished == ["first", "high", "mid", "low-a", "low-b"]


async def test_a_stage_never_starts_before_the_previous_stage_of_its_request_ended(plugin, make_config):
    cfg = make_config("pipeline.concurrency=4", "pipeline.batch_size=3",
                      analyzers=["pt_length", "pt_circuit"], delay_s=0.02, summary_delay_s=0.02)
    texts = [f"situation {i}" for i in range(7)]
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many(texts)
    backend = plugin.backend
    initial = {text: (s, e) for kind, text, s, e in backend.calls if kind == "initial"}
    summary = {text: (s, e) for kind, text, s, e in backend.calls if kind == "summary"}
    ids = {r.request_id: r.text for r in results}
    work: dict[str, dict[str, tuple[float, float]]] = {t: {} for t in texts}
    for call in plugin.analyzer_calls:
        for rid in call.request_ids:
            work[ids[rid]][call.analyzer] = (call.start, call.end)
    for text in texts:
        chain = [initial[text], work[text]["pt_length"], work[text]["pt_circuit"], summary[text]]
        for (_, previous_end), (next_start, _) in zip(chain, chain[1:]):
            assert previous_end <= next_start, f"{text}: a stage started before the previous ended"


async def test_a_stage_over_its_timeout_is_recorded_and_the_request_goes_on(plugin, make_config):
    cfg = make_config("pipeline.stage_timeout_s=0.1", "pipeline.retries=0", analyzers=["pt_length"],
                      delay_s=5)
    started = time.perf_counter()
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(TEXT)
    assert time.perf_counter() - started < 2
    assert [(e.stage, e.type) for e in result.errors] == [("llm_initial", "StageTimeout")]
    assert "pipeline.stage_timeout_s" in result.errors[0].message
    assert result.llm.initial is None
    assert result.extras["pt_length"]["initial"] is False, "the analyzers went on without the reading"
    assert result.llm.summary == "The situation asks for honesty."


async def test_a_failing_llm_stage_is_retried_until_it_succeeds(plugin, make_config):
    cfg = make_config("pipeline.retries=2", fail_initial=2, fail_summary=1)
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(TEXT)
        stats = pipe.stats()
    assert result.ok, result.errors
    assert plugin.backend.initial_calls == 3 and plugin.backend.summary_calls == 2
    assert result.llm.initial is not None and result.llm.summary
    assert stats["llm_retries_total"] == 3


async def test_retries_exhausted_record_the_last_error_and_the_request_goes_on(plugin, make_config):
    cfg = make_config("pipeline.retries=1", analyzers=["pt_length"], fail_initial=10)
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(TEXT)
        stats = pipe.stats()
    assert plugin.backend.initial_calls == 2
    (error,) = result.errors
    assert (error.stage, error.type) == ("llm_initial", "ScriptedFailure")
    assert "gave up after 2 attempts" in error.message
    assert result.extras["pt_length"]["chars"] == len(TEXT)
    assert result.llm.summary, "the final stage still ran"
    assert stats["stages"]["llm_initial"]["failed"] == 1
    assert stats["requests_total"]["failed"] == 1


async def test_a_config_error_is_not_retried(plugin, make_config):
    cfg = make_config("pipeline.retries=3", raise_config_error="true")
    async with Pipeline.from_config(cfg) as pipe:
        result = await pipe.analyze(TEXT)
    assert plugin.backend.initial_calls == 1
    assert [(e.stage, e.type) for e in result.errors] == [("llm_initial", "ConfigError")]


async def test_one_analyzer_raising_leaves_the_others_and_other_requests_whole(plugin, make_config):
    cfg = make_config("pipeline.batch_size=4",
                      analyzers=["pt_length", "pt_boom", "pt_after_boom", "pt_reader"])
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many([f"case {i}" for i in range(4)])
    for result in results:
        assert {(e.stage, e.type) for e in result.errors} == {("red_heart", "ValueError"),
                                                              ("red_heart", "DependencyFailed")}
        boom = next(e for e in result.errors if e.type == "ValueError")
        assert "'pt_boom'" in boom.message and "boom" in boom.message
        skipped = next(e for e in result.errors if e.type == "DependencyFailed")
        assert "'pt_after_boom' skipped" in skipped.message and "'pt_boom'" in skipped.message
        assert set(result.extras) == {"pt_length", "pt_reader"}
        assert result.llm.summary


async def test_one_bad_item_fails_only_its_own_request_not_its_batch(plugin, make_config):
    cfg = make_config("pipeline.batch_size=8", "pipeline.batch_wait_ms=200", analyzers=["pt_poison"])
    texts = [f"case {i}" for i in range(8)]
    texts[5] = "case 5 [poison]"
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many(texts)
    assert [bool(r.errors) for r in results] == [i == 5 for i in range(8)]
    assert "poisoned item" in results[5].errors[0].message
    assert all("pt_poison" in r.extras for i, r in enumerate(results) if i != 5)
    calls = [c for c in plugin.analyzer_calls if c.analyzer == "pt_poison"]
    assert len(calls[0].request_ids) == 8 and len(calls) <= 7  # bisected, not one call per item


@pytest.mark.parametrize("analyzer", ["pt_short", "pt_not_dict"])
async def test_an_analyzer_answering_with_the_wrong_shape_is_an_error(plugin, make_config, analyzer):
    cfg = make_config(analyzers=[analyzer, "pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many(["one", "two"])
    for result in results:
        assert [e.type for e in result.errors] == ["InvalidOutput"]
        assert repr(analyzer) in result.errors[0].message
        assert "pt_length" in result.extras


async def test_cancelling_a_running_request_releases_its_slot(plugin, make_config):
    cfg = make_config("pipeline.concurrency=1", delay_s=0.3)
    async with Pipeline.from_config(cfg) as pipe:
        task = asyncio.create_task(pipe.analyze("to cancel"))
        await asyncio.sleep(0.05)
        assert pipe.stats()["stages"]["llm_initial"]["running"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = pipe.stats()
        assert stats["in_flight"] == 0 and stats["queue_depth"] == 0
        assert stats["stages"]["llm_initial"] == {"queued": 0, "running": 0, "done": 0, "failed": 0}
        assert stats["requests_total"]["cancelled"] == 1
        started = time.perf_counter()
        result = await pipe.analyze("after")  # the one slot is free again
        assert result.ok and time.perf_counter() - started < 1.5


async def test_cancelling_a_queued_request_takes_it_out_of_the_queue(plugin, make_config):
    cfg = make_config("pipeline.concurrency=1", delay_s=0.1)
    async with Pipeline.from_config(cfg) as pipe:
        first = asyncio.create_task(pipe.analyze("first"))
        await asyncio.sleep(0.01)
        queued = asyncio.create_task(pipe.analyze("queued"))
        await asyncio.sleep(0.01)
        assert pipe.stats()["queue_depth"] == 1
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
        assert pipe.stats()["queue_depth"] == 0
        assert (await first).ok
        assert (await pipe.analyze("next")).ok
        assert plugin.backend.initial_calls == 2, "the cancelled request never reached the LLM"


async def test_a_caller_cancelled_while_blocked_before_a_full_queue_counts_as_cancelled(
        plugin, make_config):
    cfg = make_config("pipeline.concurrency=1", "pipeline.max_queue=1", "pipeline.overflow=block",
                      delay_s=0.05)
    async with Pipeline.from_config(cfg) as pipe:
        running = asyncio.create_task(pipe.analyze("running"))
        await asyncio.sleep(0.01)
        queued = asyncio.create_task(pipe.analyze("queued"))
        blocked = [asyncio.create_task(pipe.analyze(f"blocked {i}")) for i in range(4)]
        await asyncio.sleep(0.01)
        assert pipe.queue.blocked == 4
        # the queued caller leaves first and wakes the blocked ones, passing over the cancelled
        # one before that caller has handled its own cancellation
        queued.cancel()
        blocked[0].cancel()
        outcomes = await asyncio.gather(queued, *blocked, return_exceptions=True)
        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert isinstance(outcomes[1], asyncio.CancelledError), outcomes[1]
        assert all(r.ok for r in outcomes[2:])
        assert (await running).ok
        stats = pipe.stats()
    assert stats["requests_total"]["cancelled"] == 2
    assert stats["queue_depth"] == 0 and stats["in_flight"] == 0


async def test_a_single_request_interleaves_with_a_large_batch(plugin, make_config):
    cfg = make_config("pipeline.concurrency=2", "pipeline.batch_size=2", delay_s=0.02)
    finished: dict[str, float] = {}
    async with Pipeline.from_config(cfg) as pipe:
        async def timed(coro, name):
            result = await coro
            finished[name] = time.perf_counter()
            return result

        started = time.perf_counter()
        batch = asyncio.create_task(timed(pipe.analyze_many([f"b{i}" for i in range(60)]), "batch"))
        await asyncio.sleep(0.2)
        single = await timed(pipe.analyze("single"), "single")
        await batch
    assert single.ok
    batch_s = finished["batch"] - started
    single_s = finished["single"] - started - 0.2
    assert single_s <= 0.25 * batch_s, f"the single request took {single_s:.2f} s of a {batch_s:.2f} s batch"


async def test_overflow_reject_raises_queue_full_for_each_request_turned_away(plugin, make_config):
    cfg = make_config("pipeline.concurrency=2", "pipeline.max_queue=4", "pipeline.overflow=reject",
                      delay_s=0.05)
    async with Pipeline.from_config(cfg) as pipe:
        outcomes = await asyncio.wait_for(asyncio.gather(
            *(pipe.analyze(f"r{i}", request_id=f"id{i}") for i in range(40)),
            return_exceptions=True), 30)
        stats = pipe.stats()
    complete = [o for o in outcomes if isinstance(o, AnalysisResult)]
    rejected = [o for o in outcomes if isinstance(o, QueueFull)]
    assert len(complete) == 6 and all(r.ok for r in complete)  # 2 in flight + 4 queued
    assert len(rejected) == 34
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, QueueFull):
            assert outcome.request_id == f"id{i}" and "pipeline.max_queue" in str(outcome)
    assert stats["requests_total"]["rejected"] == 34 and stats["requests_total"]["complete"] == 6


async def test_analyze_each_returns_a_rejection_in_place_and_analyze_many_raises_it(plugin, make_config):
    cfg = make_config("pipeline.concurrency=1", "pipeline.max_queue=1", "pipeline.overflow=reject",
                      delay_s=0.05)
    async with Pipeline.from_config(cfg) as pipe:
        hold = [asyncio.ensure_future(pipe.analyze("holder")) for _ in range(2)]  # in flight, queued
        await asyncio.sleep(0.01)
        outcomes = await pipe.analyze_each(["a", "b"])
        with pytest.raises(QueueFull):
            await pipe.analyze_many(["c"])
        held = await asyncio.gather(*hold)
        after = await pipe.analyze_each(["d"])
    assert [type(o) for o in outcomes] == [QueueFull, QueueFull]
    assert all(r.ok for r in held) and [r.text for r in after] == ["d"]


async def test_analyze_each_names_its_requests_as_asked(plugin, make_config):
    async with Pipeline.from_config(make_config()) as pipe:
        named = await pipe.analyze_each(["a", "b"], request_ids=["first", "second"])
        fresh = await pipe.analyze_each(["c", "d"])
        with pytest.raises(ValueError, match="1 request ids for 2 texts"):
            await pipe.analyze_each(["e", "f"], request_ids=["only one"])
    assert [r.request_id for r in named] == ["first", "second"]
    assert len({r.request_id for r in fresh} | {"first", "second"}) == 4


async def test_overflow_block_completes_all_requests_with_a_bounded_queue(plugin, make_config):
    cfg = make_config("pipeline.concurrency=2", "pipeline.max_queue=4", "pipeline.overflow=block",
                      delay_s=0.01)
    queued: list[int] = []
    blocked: list[int] = []
    async with Pipeline.from_config(cfg) as pipe:
        job = asyncio.ensure_future(asyncio.gather(*(pipe.analyze(f"r{i}") for i in range(40))))
        while not job.done():
            queued.append(pipe.queue.queued)
            blocked.append(pipe.queue.blocked)
            assert pipe.stats()["in_flight"] <= 2
            await asyncio.sleep(0.005)
        results = await asyncio.wait_for(job, 30)
    assert all(r.ok for r in results) and len(results) == 40
    assert max(queued) == 4, "the queue filled up and never went past max_queue"
    assert max(blocked) > 0, "callers waited for room"


async def test_analyze_many_keeps_input_order_and_failed_items_carry_errors(plugin, make_config):
    cfg = make_config(analyzers=["pt_length"])
    texts = ["first", "   ", "third", "", "fifth"]
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many(texts)
    assert [r.text for r in results] == texts
    assert [r.ok for r in results] == [True, False, True, False, True]
    for bad in (results[1], results[3]):
        assert [(e.stage, e.type) for e in bad.errors] == [("prepare", "InvalidInput")]
        assert bad.llm.initial is None and bad.extras == {}
    assert results[2].extras["pt_length"]["chars"] == 5


async def test_red_heart_requests_are_micro_batched(plugin, make_config):
    cfg = make_config("pipeline.concurrency=8", "pipeline.batch_size=4", "pipeline.batch_wait_ms=50",
                      analyzers=["pt_length"])
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many([f"text {i}" for i in range(8)])
    sizes = [len(c.request_ids) for c in plugin.analyzer_calls]
    assert sum(sizes) == 8 and max(sizes) <= 4
    assert len(sizes) <= 3, f"8 concurrent requests took {len(sizes)} batches"
    assert all(r.ok for r in results)


async def test_a_lone_request_does_not_wait_out_the_batch_window(plugin, make_config):
    cfg = make_config("pipeline.batch_wait_ms=2000", analyzers=["pt_length", "pt_circuit"])
    async with Pipeline.from_config(cfg) as pipe:
        started = time.perf_counter()
        result = await pipe.analyze(TEXT)
    assert result.ok and time.perf_counter() - started < 1.0


async def test_observer_hooks_fire_and_a_raising_hook_does_not_break_the_request(
        plugin, make_config, redheart_plugin, caplog):
    seen: list[tuple] = []

    class Observer:
        @hookimpl
        def redheart_request_started(self, request):
            seen.append(("started", request.request_id))

        @hookimpl
        def redheart_stage_finished(self, request, stage, seconds, error):
            seen.append(("stage", stage, seconds >= 0, error))

        @hookimpl
        def redheart_request_finished(self, result):
            seen.append(("finished", result.request_id, result.ok))

    class Broken:
        @hookimpl
        def redheart_stage_finished(self, request, stage, seconds, error):
            raise RuntimeError("observer bug")

    redheart_plugin(Observer(), "observer")
    redheart_plugin(Broken(), "broken-observer")
    async with Pipeline.from_config(make_config()) as pipe:
        result = await pipe.analyze(TEXT, request_id="obs")
    assert result.ok
    assert seen[0] == ("started", "obs") and seen[-1] == ("finished", "obs", True)
    assert [s[1] for s in seen[1:-1]] == list(STAGES)
    assert all(s[2] and s[3] is None for s in seen[1:-1])
    assert "observer hook redheart_stage_finished of plugin 'broken-observer' raised" in caplog.text


async def test_stages_can_be_added_and_removed_at_run_time(plugin, make_config):
    class Stamp(StageHandler):
        name = "stamp"

        async def run(self, ctx, text):
            ctx.result.notes.append(f"stamped {text!r} after {ctx.result.llm.summary!r}")

    async with Pipeline.from_config(make_config()) as pipe:
        pipe.router.register(Stamp(), after="llm_final")
        pipe.router.remove("llm_initial")
        result = await pipe.analyze(TEXT)
        assert pipe.router.names() == ["prepare", "red_heart", "circuit", "llm_final", "stamp"]
        with pytest.raises(ValueError, match="unknown stage 'nope'"):
            pipe.router.remove("nope")
        with pytest.raises(ValueError, match="already has a handler"):
            pipe.router.register(Stamp())
    assert result.notes == [f"stamped {TEXT!r} after 'The situation asks for honesty.'"]
    assert "llm_initial" not in result.timings_ms and "stamp" in result.timings_ms
    assert plugin.backend.initial_calls == 0


async def test_a_config_error_surfaces_when_the_pipeline_starts(plugin, make_config):
    cfg = make_config("llm.backend=keyless")
    pipe = Pipeline.from_config(cfg)
    with pytest.raises(ConfigError, match="llm.options.api_key"):
        await pipe.__aenter__()


async def test_using_a_pipeline_outside_its_context_is_a_clear_error(plugin, make_config):
    pipe = Pipeline.from_config(make_config())
    with pytest.raises(RuntimeError, match="async with Pipeline.from_config"):
        await pipe.analyze(TEXT)


def test_the_sync_convenience_runs_one_analysis(plugin, make_config):
    result = analyze(TEXT, config=make_config(analyzers=["pt_length"]))
    assert result.ok and result.extras["pt_length"]["chars"] == len(TEXT)


async def test_the_sync_convenience_refuses_to_run_inside_an_event_loop(plugin, make_config):
    with pytest.raises(RuntimeError, match="await pipe.analyze"):
        analyze(TEXT, config=make_config())


async def test_korean_text_is_detected_and_noted_when_the_llm_reads_english_only(plugin, make_config):
    cfg = make_config(english_only="true")
    async with Pipeline.from_config(cfg) as pipe:
        korean = await pipe.analyze("친구가 직장에서 자기를 위해 거짓말을 해 달라고 했다.")
        english = await pipe.analyze(TEXT)
    assert korean.language == "ko" and english.language == "en"
    assert korean.translated_text is None
    assert any("English only" in n and "translation.translator" in n for n in korean.notes)
    assert english.notes == []
