"""Shutdown with work still running past ``server.shutdown_timeout_s``: a clean 503 for plain
requests, a final ``error`` event for streams, each counted, no traceback logged."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import httpx

from redheart_core.service import create_app
from redheart_core.service.server import make_server

from .conftest import free_port, small_config

SLOW = "Should I tell my friend the truth? [slow:0.5]"  # a summary of 8 chunks, 0.5 s apart


async def stream_until_token(client: httpx.AsyncClient, started: asyncio.Event) -> list[tuple[str, dict]]:
    """The stream's events as (event, data); ``started`` is set at its first summary token."""
    events: list[tuple[str, dict]] = []
    name = ""
    async with client.stream("POST", "/v1/analyze/stream", json={"text": SLOW}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if name == "token":
                    started.set()
    return events


def test_requests_and_streams_past_the_deadline_get_503_and_an_error_event(caplog):
    config = small_config("server.shutdown_timeout_s=0.5", f"server.port={free_port()}")
    app = create_app(config)
    server = make_server(app, config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{config.server.port}"

    async def load_then_stop() -> tuple[list[httpx.Response], list[list[tuple[str, dict]]]]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            started = [asyncio.Event() for _ in range(4)]
            streams = [asyncio.create_task(stream_until_token(client, s)) for s in started]
            plain = [asyncio.create_task(client.post("/v1/analyze", json={"text": SLOW})) for _ in range(4)]
            await asyncio.wait_for(asyncio.gather(*(s.wait() for s in started)), 30)
            server.should_exit = True  # what SIGTERM does
            return await asyncio.gather(*plain), await asyncio.gather(*streams)

    with caplog.at_level(logging.INFO):
        plain, streams = asyncio.run(load_then_stop())
        thread.join(30)
    assert not thread.is_alive()
    assert [r.status_code for r in plain] == [503] * 4
    assert {r.json()["error"]["type"] for r in plain} == {"ShuttingDown"}
    for events in streams:
        assert any(name == "token" for name, _ in events) and events[-1][0] == "error"
        assert events[-1][1] == {"type": "error", "error": {
            "type": "ShuttingDown", "message": events[-1][1]["error"]["message"]}}
    assert app.state.service.metrics.total("shutdown") == 8
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
