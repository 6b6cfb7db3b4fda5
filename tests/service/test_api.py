"""The HTTP API over a real socket: concurrency, error mapping, metrics, operations endpoints."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from redheart_core.config import load_config
from redheart_core.service import create_app

from .conftest import SlowSummaryBackend, metric, small_config


async def test_64_concurrent_requests_all_succeed(live_server):
    """On the default offline path: the none backend and the real analyzers and embedder."""
    server = live_server(create_app(load_config()))
    texts = [f"Situation {i}: my friend asked me to cover for him at work." for i in range(64)]
    async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as client:
        responses = await asyncio.gather(*(
            client.post("/v1/analyze", json={"text": t, "request_id": f"c-{i}"})
            for i, t in enumerate(texts)))
        scraped = (await client.get("/metrics")).text
    assert [r.status_code for r in responses] == [200] * 64
    results = [r.json() for r in responses]
    assert [r["request_id"] for r in results] == [f"c-{i}" for i in range(64)]
    assert [r["text"] for r in results] == texts
    assert all(r["errors"] == [] and r["llm"]["summary"] for r in results)
    assert all(r["circuit"]["final_ethical_score"] is not None for r in results)
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 64
    assert metric(scraped, "redheart_stage_seconds_count", 'stage="red_heart"') == 64
    assert metric(scraped, "redheart_in_flight") == 0


async def test_bad_requests_get_their_codes_and_metrics_count_them(live_server):
    server = live_server(create_app(small_config("server.max_chars=50")))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        post = client.post
        malformed = await post("/v1/analyze", content=b'{"text": "unterminated',
                               headers={"content-type": "application/json"})
        form = await post("/v1/analyze", content=b"text=hello",
                          headers={"content-type": "application/x-www-form-urlencoded"})
        missing = await post("/v1/analyze", json={"situation": "hello"})
        wrong_type = await post("/v1/analyze", json={"text": "hello", "priority": "high"})
        empty = await post("/v1/analyze", json={"text": ""})
        bad_id = await post("/v1/analyze", json={"text": "hello", "request_id": "a b/c"})
        too_long = await post("/v1/analyze", json={"text": "x" * 51})
        batch_too_long = await post("/v1/analyze/batch", json={"texts": ["fine", "y" * 51]})
        stream_too_long = await post("/v1/analyze/stream", json={"text": "z" * 51})
        scraped = (await client.get("/metrics")).text

    assert malformed.status_code == 400
    assert malformed.json()["error"]["type"] == "MalformedJSON"
    assert form.status_code == 415
    assert "application/json" in form.json()["error"]["message"]
    assert [r.status_code for r in (missing, wrong_type, empty, bad_id)] == [422] * 4
    assert "text: Field required" in missing.json()["error"]["message"]
    assert "priority" in wrong_type.json()["error"]["message"]
    assert too_long.status_code == 413
    assert "server.max_chars" in too_long.json()["error"]["message"]
    assert batch_too_long.status_code == 413
    assert "texts[1]" in batch_too_long.json()["error"]["message"]
    assert stream_too_long.status_code == 413
    for response in (malformed, form, missing, too_long):
        assert "Traceback" not in response.text
    assert metric(scraped, "redheart_requests_total", 'status="bad_request"') == 2
    assert metric(scraped, "redheart_requests_total", 'status="invalid"') == 4
    assert metric(scraped, "redheart_requests_total", 'status="too_large"') == 3
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 0


async def test_full_queue_answers_503_with_retry_after(live_server):
    server = live_server(create_app(small_config(
        "pipeline.concurrency=1", "pipeline.max_queue=1", "pipeline.overflow=reject")))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        responses = await asyncio.gather(*(
            client.post("/v1/analyze", json={"text": f"hold the slot [slow:0.1] {i}"}) for i in range(4)))
        scraped = (await client.get("/metrics")).text
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503]
    for refused in (r for r in responses if r.status_code == 503):
        assert refused.json()["error"]["type"] == "QueueFull"
        assert int(refused.headers["retry-after"]) >= 1
    assert metric(scraped, "redheart_requests_total", 'status="queue_full"') == 2
    assert metric(scraped, "redheart_requests_total", 'status="ok"') == 2


async def test_a_failing_stage_is_a_200_with_errors_not_a_500(live_server):
    server = live_server(create_app(small_config()))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/v1/analyze", json={"text": "please [fail] here"})
        scraped = (await client.get("/metrics")).text
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] == [{"stage": "red_heart", "type": "AnalyzerFailed",
                               "message": "analyzer 'svc-failing' failed: asked to fail by the text"}]
    assert body["llm"]["summary"], "the stages after the failure still ran"
    assert metric(scraped, "redheart_requests_total", 'status="partial"') == 1


async def test_an_out_of_memory_error_is_recovered_not_answered_and_metrics_count_it(live_server):
    import torch

    server = live_server(create_app(load_config()))
    failures = iter([True])

    def once(module, args):
        if next(failures, False):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = server.service.pipeline.runtime.embedder.module.register_forward_pre_hook(once)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            response = await client.post("/v1/analyze", json={
                "text": "A situation nobody has embedded yet: the night nurse found a forged chart."})
            scraped = (await client.get("/metrics")).text
    finally:
        handle.remove()
    assert response.status_code == 200 and response.json()["errors"] == []
    assert metric(scraped, "redheart_oom_recoveries_total", 'action="retry"') == 1
    assert metric(scraped, "redheart_oom_recoveries_total", 'action="cpu"') == 0


async def test_batch_answers_in_input_order(live_server):
    server = live_server(create_app(small_config()))
    texts = ["first [slow:0.02]", "second", "third"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/v1/analyze/batch", json={"texts": texts})
        empty = await client.post("/v1/analyze/batch", json={"texts": []})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["text"] for r in results] == texts
    assert all(r["errors"] == [] for r in results)
    assert empty.status_code == 422


async def test_request_id_comes_from_the_body_or_the_header(live_server):
    server = live_server(create_app(small_config()))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        from_body = await client.post("/v1/analyze", json={"text": "a", "request_id": "body-1"})
        from_header = await client.post("/v1/analyze", json={"text": "b"},
                                        headers={"X-Request-ID": "header-1"})
        generated = await client.post("/v1/analyze", json={"text": "c"})
    assert from_body.json()["request_id"] == from_body.headers["x-request-id"] == "body-1"
    assert from_header.json()["request_id"] == "header-1"
    assert len(generated.json()["request_id"]) == 32


async def test_operations_endpoints(live_server):
    server = live_server(create_app(small_config()))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        plugins = await client.get("/v1/plugins")
        schema = await client.get("/openapi.json")
        docs = await client.get("/docs")
        scraped = await client.get("/metrics")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "llm": "svc-slow", "analyzers": ["svc-failing"]}
    names = {p["name"]: p for p in plugins.json()}
    assert names["svc-test-plugins"]["registers"]["analyzers"] == ["svc-failing"]
    assert names["svc-test-plugins"]["status"] == "ok"
    paths = schema.json()["paths"]
    for path in ("/v1/analyze", "/v1/analyze/batch", "/v1/analyze/stream", "/healthz", "/readyz",
                 "/v1/plugins", "/metrics"):
        assert path in paths
    assert "AnalysisResult" in schema.json()["components"]["schemas"]
    assert docs.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    for name in ("redheart_queue_depth", "redheart_llm_retries_total", "redheart_gpu_memory_bytes"):
        assert metric(scraped.text, name) == 0
    assert metric(scraped.text, "redheart_swaps_total", 'direction="in"') == 0


async def test_graceful_shutdown_finishes_in_flight_requests_then_closes_the_pipeline(live_server):
    server = live_server(create_app(small_config()))
    svc = server.service
    closed: list[bool] = []
    backend = svc.pipeline.llm
    original = backend.aclose

    async def recording_aclose() -> None:
        closed.append(True)
        await original()

    backend.aclose = recording_aclose
    SlowSummaryBackend.started = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        in_flight = asyncio.create_task(client.post("/v1/analyze", json={"text": "long [slow:0.1]"}))
        while SlowSummaryBackend.started == 0:
            await asyncio.sleep(0.01)
        server.server.handle_exit(15, None)  # what uvicorn does on SIGTERM
        response = await in_flight
        with pytest.raises(httpx.TransportError):
            await client.post("/v1/analyze", json={"text": "too late"})
    assert response.status_code == 200
    assert response.json()["llm"]["summary"].count("part") == 8
    server.thread.join(10)
    assert closed == [True]
    assert svc.pipeline is None


async def test_before_the_pipeline_runs_requests_get_503_and_readyz_says_starting():
    app = create_app(small_config())  # ASGITransport runs no lifespan: the pipeline never starts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
        early = await client.post("/v1/analyze", json={"text": "too early"})
        scraped = (await client.get("/metrics")).text
    assert ready.status_code == 503 and ready.json() == {"status": "starting"}
    assert health.status_code == 200
    assert early.status_code == 503 and early.headers["retry-after"] == "1"
    assert early.json()["error"]["type"] == "NotReady"
    assert metric(scraped, "redheart_requests_total", 'status="not_ready"') == 1
