"""Pipeline.stream: the events a user watches, in order, and leaving early."""

from __future__ import annotations

import asyncio
import json
import time

from redheart_core.pipeline import Partial, Pipeline, Result, StageFinished, StageStarted, Token
from redheart_core.schema import STAGES

TEXT = "I found a wallet with cash and an ID in it."
CHUNKS = ["You ", "could ", "return ", "the ", "wallet."]


async def collect(pipe, text=TEXT, **kwargs):
    events, stamps = [], []
    async for event in pipe.stream(text, **kwargs):
        events.append(event)
        stamps.append(time.perf_counter())
    return events, stamps


async def test_events_come_in_stage_pairs_with_partials_and_tokens_before_one_result(plugin, make_config):
    cfg = make_config(analyzers=["pt_length", "pt_reader", "pt_circuit"], chunks=CHUNKS)
    async with Pipeline.from_config(cfg) as pipe:
        events, _ = await collect(pipe)
    assert isinstance(events[-1], Result) and sum(isinstance(e, Result) for e in events) == 1
    result = events[-1].result
    stage_events = [(type(e).__name__, e.stage) for e in events if isinstance(e, (StageStarted, StageFinished))]
    assert stage_events == [(kind, stage) for stage in STAGES for kind in ("StageStarted", "StageFinished")]
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert tokens == CHUNKS and "".join(tokens) == result.llm.summary
    partials = {e.key: e.value for e in events if isinstance(e, Partial)}
    assert list(partials) == ["llm.initial", "pt_length", "pt_reader", "pt_circuit"]
    assert partials["pt_length"] == result.extras["pt_length"]
    assert partials["llm.initial"] == result.llm.initial.to_dict()

    def stage_of(index):
        """The stage whose started/finished pair encloses event ``index``."""
        open_stage = None
        for event in events[:index]:
            if isinstance(event, StageStarted):
                open_stage = event.stage
            elif isinstance(event, StageFinished):
                open_stage = None
        return open_stage

    where = {(type(e).__name__, getattr(e, "key", "")): stage_of(i) for i, e in enumerate(events)
             if isinstance(e, (Partial, Token))}
    assert where == {("Partial", "llm.initial"): "llm_initial", ("Partial", "pt_length"): "red_heart",
                     ("Partial", "pt_reader"): "red_heart", ("Partial", "pt_circuit"): "circuit",
                     ("Token", ""): "llm_final"}
    finished = [e for e in events if isinstance(e, StageFinished)]
    assert all(e.error is None and e.duration_ms >= 0 for e in finished)
    assert [e.duration_ms for e in finished] == [result.timings_ms[s] for s in STAGES]


async def test_every_event_has_a_json_form(plugin, make_config):
    async with Pipeline.from_config(make_config(analyzers=["pt_length"], chunks=CHUNKS)) as pipe:
        events, _ = await collect(pipe)
    lines = [json.dumps(e.to_dict()) for e in events]
    decoded = [json.loads(line) for line in lines]
    assert decoded[0] == {"type": "stage_started", "stage": "prepare"}
    assert {d["type"] for d in decoded} == {"stage_started", "stage_finished", "partial", "token", "result"}
    assert decoded[-1]["result"]["llm"]["summary"] == "".join(CHUNKS)


async def test_an_error_after_the_first_token_ends_the_stream_with_the_error(plugin, make_config):
    cfg = make_config("pipeline.retries=2", chunks=CHUNKS, break_after=2)
    async with Pipeline.from_config(cfg) as pipe:
        events, _ = await collect(pipe)
    assert plugin.backend.summary_calls == 1, "no retry once text was sent"
    assert [e.text for e in events if isinstance(e, Token)] == CHUNKS[:2]
    final = next(e for e in events if isinstance(e, StageFinished) and e.stage == "llm_final")
    assert final.error.type == "ScriptedFailure" and "after 2 chunks" in final.error.message
    assert final.to_dict()["error"]["type"] == "ScriptedFailure"
    result = events[-1].result
    assert [(e.stage, e.type) for e in result.errors] == [("llm_final", "ScriptedFailure")]
    assert result.llm.summary is None


async def test_the_first_partial_arrives_before_the_final_summary_call_starts(plugin, make_config):
    cfg = make_config(analyzers=["pt_length"], delay_s=0.1, summary_delay_s=0.3, chunks=CHUNKS)
    async with Pipeline.from_config(cfg) as pipe:
        events, stamps = await collect(pipe)
    first_partial = next(t for e, t in zip(events, stamps) if isinstance(e, Partial))
    (summary_start, summary_end) = next((s, e) for kind, _, s, e in plugin.backend.calls if kind == "summary")
    assert first_partial < summary_start


async def test_the_first_token_arrives_before_the_summary_is_complete(plugin, make_config):
    cfg = make_config(chunks=CHUNKS, chunk_delay_s=0.05)
    async with Pipeline.from_config(cfg) as pipe:
        events, stamps = await collect(pipe)
    first_token = next(t for e, t in zip(events, stamps) if isinstance(e, Token))
    (summary_end,) = [e for kind, _, s, e in plugin.backend.calls if kind == "summary"]
    assert summary_end - first_token >= 0.15, "tokens are passed on as they are written"


async def test_breaking_out_of_the_stream_cancels_the_request(plugin, make_config):
    cfg = make_config(analyzers=["pt_length"], delay_s=0.3)
    async with Pipeline.from_config(cfg) as pipe:
        async with pipe.stream(TEXT) as events:
            async for event in events:
                if isinstance(event, StageStarted) and event.stage == "llm_initial":
                    break
        stats = pipe.stats()
        assert stats["in_flight"] == 0 and stats["queue_depth"] == 0
        assert stats["requests_total"]["cancelled"] == 1
        assert all(c["running"] == 0 and c["queued"] == 0 for c in stats["stages"].values())
        assert plugin.analyzer_calls == [], "the request went no further"


async def test_a_stream_left_without_closing_is_cancelled_when_dropped(plugin, make_config):
    cfg = make_config(delay_s=0.3)
    async with Pipeline.from_config(cfg) as pipe:
        async for event in pipe.stream(TEXT):
            if isinstance(event, StageStarted) and event.stage == "llm_initial":
                break
        for _ in range(10):
            await asyncio.sleep(0.01)
            if pipe.stats()["in_flight"] == 0:
                break
        assert pipe.stats()["in_flight"] == 0
        assert pipe.stats()["requests_total"]["cancelled"] == 1


async def test_analyze_is_the_stream_read_to_its_end(plugin, make_config):
    async with Pipeline.from_config(make_config(analyzers=["pt_length"])) as pipe:
        via_stream = (await collect(pipe, request_id="a"))[0][-1].result
        via_analyze = await pipe.analyze(TEXT, request_id="b")
    a, b = via_stream.to_dict(), via_analyze.to_dict()
    for data in (a, b):
        data.pop("request_id")
        data.pop("timings_ms")
    assert a == b
