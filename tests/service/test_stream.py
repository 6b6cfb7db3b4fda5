"""Streaming: server-sent events over HTTP, client disconnects, and ``analyze --stream``."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from click.testing import CliRunner

from redheart_core.cli import cli
from redheart_core.schema import STAGES
from redheart_core.service import create_app

from .conftest import SLOW_CHUNKS, SlowSummaryBackend, metric, small_config


def parse_sse(body: str) -> list[tuple[int, str, dict]]:
    """``(id, event, data)`` per frame of a text/event-stream body."""
    frames = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return frames


def check_event_order(events: list[dict]) -> dict:
    """Pin the stream's contract; returns the result."""
    types = [e["type"] for e in events]
    assert types[-1] == "result" and types.count("result") == 1
    started = [e["stage"] for e in events if e["type"] == "stage_started"]
    finished = [e["stage"] for e in events if e["type"] == "stage_finished"]
    assert started == finished == list(STAGES)
    for stage in STAGES:
        i = events.index({"type": "stage_started", "stage": stage})
        j = next(k for k, e in enumerate(events) if e["type"] == "stage_finished" and e["stage"] == stage)
        assert i < j
        assert all(e["type"] != "stage_started" for e in events[i + 1:j]), "stages overlap"
    partials = [k for k, e in enumerate(events) if e["type"] == "partial"]
    tokens = [k for k, e in enumerate(events) if e["type"] == "token"]
    assert partials and max(partials) < len(events) - 1
    assert len(tokens) == SLOW_CHUNKS and max(tokens) < len(events) - 1
    result = events[-1]["result"]
    assert "".join(events[k]["text"] for k in tokens) == result["llm"]["summary"]
    return result


async def test_sse_events_arrive_in_pipeline_order(live_server):
    server = live_server(create_app(small_config()))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/v1/analyze/stream",
                                     json={"text": "Should I report my colleague?", "request_id": "s-1"})
        scraped = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] == "s-1"
    frames = parse_sse(response.text)
    assert [f[0] for f in frames] == list(range(1, len(frames) + 1))
    assert all(event == data["type"] for _, event, data in frames)
    result = check_event_order([data for _, _, data in frames])
    assert result["request_id"] == "s-1" and result["errors"] == []
    assert {"svc-failing", "llm.initial"} <= {d["key"] for _, _, d in frames if d["type"] == "partial"}
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 1


async def test_client_disconnect_mid_stream_leaves_no_request_running(live_server):
    server = live_server(create_app(small_config()))
    abandoned_before = SlowSummaryBackend.abandoned
    # eight summary chunks one second apart: the request would run for 8 s if not cancelled
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        async with client.stream("POST", "/v1/analyze/stream",
                                 json={"text": "a long one [slow:1.0]"}) as response:
            async for line in response.aiter_lines():
                if line == "event: token":
                    break
        left_at = time.monotonic()
        while True:
            scraped = (await client.get("/metrics")).text
            if metric(scraped, "redheart_in_flight") == 0:
                break
            # the server notices at its next chunk (1 s); 6 s leaves room for a loaded machine
            # and still fails a request that runs on to its end (8 s)
            assert time.monotonic() - left_at < 6, "the request still runs after the client left"
            await asyncio.sleep(0.05)
    for stage in STAGES:
        assert metric(scraped, "redheart_stage_requests", f'stage="{stage}",state="running"') == 0
        assert metric(scraped, "redheart_stage_requests", f'stage="{stage}",state="queued"') == 0
    assert metric(scraped, "redheart_requests_total", 'status="cancelled"') == 1
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 0
    assert SlowSummaryBackend.abandoned == abandoned_before + 1
    stats = server.service.pipeline.stats()
    assert stats["in_flight"] == 0 and stats["requests_total"]["cancelled"] == 1


async def test_client_leaving_a_plain_analyze_cancels_it_too(live_server):
    server = live_server(create_app(small_config()))
    async with httpx.AsyncClient(base_url=server.url, timeout=0.5) as impatient:
        try:
            await impatient.post("/v1/analyze", json={"text": "slow [slow:1.0]"})
        except httpx.ReadTimeout:
            pass
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        # the handler counts the outcome once the cancelled request has unwound, so the scrape
        # waits for both; 6 s still fails a request that runs on to its end (8 s)
        deadline = time.monotonic() + 6
        while True:
            scraped = (await client.get("/metrics")).text
            if (metric(scraped, "redheart_in_flight") == 0
                    and metric(scraped, "redheart_requests_total", 'status="cancelled"') == 1):
                break
            assert time.monotonic() < deadline, "the request still runs after the client left"
            await asyncio.sleep(0.05)
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 0


def test_cli_stream_json_prints_one_event_per_line():
    result = CliRunner().invoke(cli, ["analyze", "--stream", "--json", "--set", "llm.backend=svc-slow",
                                      "--set", "analyzers=[svc-failing]", "Should I tell him?"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    final = check_event_order(events)
    assert final["text"] == "Should I tell him?"


def test_cli_stream_live_view_shows_stages_and_the_summary():
    result = CliRunner().invoke(cli, ["analyze", "--stream", "--set", "llm.backend=svc-slow",
                                      "--set", "analyzers=[svc-failing]", "Should I tell him? [fail]"])
    assert result.exit_code == 1, result.output  # the result carries the analyzer's error
    out = result.stdout
    for stage in STAGES:
        assert stage in out
    assert "summary" in out
    assert "".join(f"part {i + 1} of the summary. " for i in range(SLOW_CHUNKS)) in out
    assert "error in red_heart: AnalyzerFailed" in out
    assert out.index("llm_initial") < out.index("part 1 of the summary")
