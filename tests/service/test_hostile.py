"""Hostile clients against ``redheart serve`` in a subprocess on loopback.

Each attack is bounded: a fixed number of requests, bytes or sockets, and a deadline for every
wait. Together they pin the service's exposure: no client's text in another's result, API keys,
the Host check, bodies refused before buffering, connections that cannot lock others out,
capped and fair batches, a clean shutdown past its deadline, and a bounded experience store.
"""

from __future__ import annotations

import asyncio
import json
import resource
import selectors
import signal
import socket
import sqlite3
import time
from typing import Any, AsyncIterator

import httpx
import psutil
import pytest

from .conftest import REPO, ServeProcess, metric

pytestmark = pytest.mark.slow

SECRET = ("My friend Jane Roe (patient record 4471-22) told me in confidence that she is HIV "
          "positive, and asked me not to tell anyone at work.")
#: another client's situation, close enough to recall the first one
PARAPHRASE = "A friend told me in confidence that she is HIV positive and asked me not to tell anyone at work."
DILEMMAS = [json.loads(line)["text"] for line in (REPO / "examples" / "dilemmas.jsonl").read_text().splitlines()
            if line.strip()]
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server on the default offline path (every analyzer, the store in memory)."""
    proc = ServeProcess(tmp_path_factory.mktemp("hostile"), name="default")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
        if proc.proc.poll() is None:
            proc.proc.kill()


def start(tmp_path, *args: str, **kwargs: Any) -> ServeProcess:
    proc = ServeProcess(tmp_path, *args, **kwargs)
    proc.wait_ready()
    return proc


# ------------------------------------------------------------------ 1. privacy


def test_one_clients_text_never_reaches_another(server):
    first = httpx.post(f"{server.url}/v1/analyze", json={"text": SECRET}, timeout=60)
    second = httpx.post(f"{server.url}/v1/analyze", json={"text": PARAPHRASE}, timeout=60)
    assert first.status_code == second.status_code == 200
    matches = second.json()["circuit"]["experience_matches"]
    assert matches, "the second request recalls the first one's decision (the test needs a match)"
    assert all(set(m) == {"similarity", "final_ethical_score"} for m in matches)
    for fragment in ("Jane Roe", "4471-22", "HIV positive, and asked"):
        assert fragment not in second.text


def test_with_api_keys_each_caller_recalls_only_its_own_namespace(tmp_path):
    args = [a for name, key in KEYS.items() for a in ("--set", f"server.api_keys.{name}={key}")]
    proc = start(tmp_path, *args, "--set", "experience.match_text=true")
    try:
        def post(text: str, key: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return httpx.post(f"{proc.url}/v1/analyze", json={"text": text}, headers=headers, timeout=60)

        assert post(SECRET, KEYS["alice"]).status_code == 200
        bob = post(PARAPHRASE, KEYS["bob"])
        assert bob.status_code == 200 and bob.json()["circuit"]["experience_matches"] == []
        assert "Jane Roe" not in bob.text
        alice = post(PARAPHRASE, KEYS["alice"]).json()["circuit"]["experience_matches"]
        assert alice and alice[0]["text"] == SECRET, "a caller may see its own past text"

        # 2. authentication: probes stay open, everything else needs a key
        assert httpx.get(f"{proc.url}/healthz").status_code == 200
        assert httpx.get(f"{proc.url}/readyz").status_code == 200
        refused = [post(SECRET, None), post(SECRET, "alice-key-0123456789abcdeX"),
                   httpx.get(f"{proc.url}/metrics"),
                   httpx.get(f"{proc.url}/metrics", headers={"Authorization": f"Basic {KEYS['bob']}"})]
        assert [r.status_code for r in refused] == [401] * 4
        assert all(r.json()["error"]["type"] == "Unauthorized" for r in refused)
        assert refused[0].headers["www-authenticate"] == "Bearer"
        scraped = httpx.get(f"{proc.url}/metrics", headers={"Authorization": f"Bearer {KEYS['bob']}"})
        assert metric(scraped.text, "redheart_requests_total", 'status="unauthorized"') == 4
    finally:
        assert proc.stop() == 0
    for key in KEYS.values():
        assert key not in proc.log()


# ------------------------------------------------------------------ 3. the Host header


def test_a_foreign_host_header_is_refused(server):
    foreign = httpx.get(f"{server.url}/v1/plugins", headers={"Host": "rebound.attacker.example"})
    assert foreign.status_code == 400 and foreign.json()["error"]["type"] == "InvalidHost"
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert httpx.get(f"{server.url}/v1/plugins", headers={"Host": host}).status_code == 200


# ------------------------------------------------------------------ 4. bodies


async def _zeros(total: int) -> AsyncIterator[bytes]:
    chunk = b"0" * MB
    for _ in range(total // MB):
        yield chunk


def test_200_megabyte_bodies_get_413_before_they_are_buffered(server):
    rss = psutil.Process(server.proc.pid)
    before = rss.memory_info().rss
    peak = before

    async def attack() -> list[httpx.Response]:
        nonlocal peak
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            sized = {"content-type": "application/json", "content-length": str(200 * MB)}
            chunked = {"content-type": "application/json"}
            sends = [asyncio.create_task(client.post("/v1/analyze", content=_zeros(200 * MB), headers=h))
                     for h in (sized, sized, chunked, chunked)]
            while not all(s.done() for s in sends):
                peak = max(peak, rss.memory_info().rss)
                await asyncio.sleep(0.02)
            return [s.result() for s in sends]

    responses = asyncio.run(attack())
    assert [r.status_code for r in responses] == [413] * 4
    assert all(r.json()["error"]["type"] == "PayloadTooLarge" for r in responses)
    growth_mb = (peak - before) / MB
    assert growth_mb < 120, f"server RSS grew by {growth_mb:.0f} MB"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


# ------------------------------------------------------------------ 5. connections


def test_half_sent_requests_cannot_lock_others_out(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:
        if hard != resource.RLIM_INFINITY and hard < 1024:
            pytest.skip("this test needs 1024 open files in the test process")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    proc = start(tmp_path, "--set", "analyzers=[]", fd_limit=512)
    opened = time.monotonic()
    socks = []
    try:
        for _ in range(700):
            sock = socket.create_connection(("127.0.0.1", proc.port), timeout=5)
            sock.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")
            socks.append(sock)
        health = httpx.get(f"{proc.url}/healthz", timeout=10)
        assert health.status_code == 200, "a new client gets through 700 half-sent requests"

        with selectors.DefaultSelector() as selector:
            for sock in socks:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            still_open = len(socks)
            while still_open and time.monotonic() - opened < 35:
                for key, _ in selector.select(timeout=0.5):
                    try:
                        data = key.fileobj.recv(4096)
                    except ConnectionError:
                        data = b""
                    if not data:
                        selector.unregister(key.fileobj)
                        still_open -= 1
        assert still_open == 0, f"{still_open} half-sent connections still open after 35 s"
        assert httpx.get(f"{proc.url}/healthz", timeout=10).status_code == 200
    finally:
        for sock in socks:
            sock.close()
        assert proc.stop() == 0
    log = proc.log()
    assert len(log) < 200_000, f"the log grew to {len(log)} bytes"
    assert "Traceback" not in log and "Too many open files" not in log


# ------------------------------------------------------------------ 6 and 8. batches, the store's bound


def test_a_batch_over_the_limit_is_refused_at_once(server):
    started = time.perf_counter()
    response = httpx.post(f"{server.url}/v1/analyze/batch", json={"texts": ["a situation"] * 65}, timeout=60)
    assert response.status_code == 413 and time.perf_counter() - started < 5
    assert response.json()["error"]["message"] == "the batch has 65 texts; the limit is 64 (server.max_batch)"


def test_a_single_request_takes_its_turn_during_a_large_batch_and_the_store_stays_bounded(tmp_path):
    store = tmp_path / "experience.db"
    proc = start(tmp_path, "--set", "server.max_batch=300", "--set", f"experience.path={store}",
                 "--set", "experience.max_entries=100")
    texts = [f"{DILEMMAS[i % len(DILEMMAS)]} (case {i})" for i in range(300)]

    async def batch_then_single() -> tuple[float, float, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=proc.url, timeout=600) as client:
            started = time.perf_counter()
            batch = asyncio.create_task(client.post("/v1/analyze/batch", json={"texts": texts}))
            await asyncio.sleep(2)
            sent = time.perf_counter()
            single = await client.post("/v1/analyze", json={"text": "My friend asked me to lie for him."})
            single_s = time.perf_counter() - sent
            done = await batch
            return time.perf_counter() - started, single_s, done, single

    try:
        batch_s, single_s, batch, single = asyncio.run(batch_then_single())
    finally:
        assert proc.stop() == 0
    assert batch.status_code == single.status_code == 200
    assert all(r["errors"] == [] for r in batch.json()["results"])
    assert single_s <= 0.25 * batch_s, f"single request {single_s:.1f} s during a {batch_s:.1f} s batch"
    rows = sqlite3.connect(store).execute("SELECT COUNT(*), SUM(length(text)) FROM experiences").fetchone()
    assert rows == (100, 0), "at most experience.max_entries decisions are kept, and no text"


# ------------------------------------------------------------------ 7. shutdown


async def _stream_outcome(client: httpx.AsyncClient, text: str) -> str:
    """The type of the last event of a stream ("result" or "error"), or its HTTP status."""
    last = ""
    async with client.stream("POST", "/v1/analyze/stream", json={"text": text}) as response:
        if response.status_code != 200:
            await response.aread()
            return f"{response.status_code} {response.json()['error']['type']}"
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                last = line.removeprefix("event: ")
            elif line.startswith("data: ") and last == "error":
                assert json.loads(line[6:])["error"]["type"] == "ShuttingDown"
    return last


def test_work_still_running_past_the_shutdown_deadline_ends_cleanly(tmp_path):
    proc = start(tmp_path, "--set", "pipeline.concurrency=1", "--set", "server.shutdown_timeout_s=2",
                 "--set", "logging.format=json")

    async def load_then_sigterm() -> tuple[list[httpx.Response], list[str]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=proc.url, timeout=120, limits=limits) as client:
            plain = [asyncio.create_task(client.post("/v1/analyze", json={"text": f"{DILEMMAS[i % 5]} ({i})"}))
                     for i in range(144)]
            streams = [asyncio.create_task(_stream_outcome(client, f"{DILEMMAS[i % 5]} (stream {i})"))
                       for i in range(8)]
            deadline = time.monotonic() + 60
            while True:  # every request is in: waiting, running or answered
                scraped = (await client.get("/metrics")).text
                seen = sum(metric(scraped, name) for name in ("redheart_queue_depth", "redheart_in_flight"))
                seen += metric(scraped, "redheart_requests_total", 'status="ok"')
                if seen >= len(plain) + len(streams):
                    break
                assert time.monotonic() < deadline, "the requests never queued up"
                await asyncio.sleep(0.05)
            proc.proc.send_signal(signal.SIGTERM)
            return await asyncio.gather(*plain), await asyncio.gather(*streams)

    plain, streams = asyncio.run(load_then_sigterm())
    assert proc.proc.wait(60) == 0
    codes = [r.status_code for r in plain]
    assert set(codes) <= {200, 503} and 503 in codes
    assert all(r.json()["error"]["type"] == "ShuttingDown" for r in plain if r.status_code == 503)
    # a stream still queued is answered like a plain request; one under way ends with an error event
    assert set(streams) <= {"result", "error", "503 ShuttingDown"}
    log = proc.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    cut_off = [e for e in proc.log_events() if e.get("event") == "requests_cut_off"]
    assert len(cut_off) == 1, "the cut-off requests are counted (metrics status shutdown)"
    counted = codes.count(503) + sum(outcome != "result" for outcome in streams)
    assert cut_off[0]["message"].startswith(f"{counted} request(s)")


# ------------------------------------------------------------------ 15. every error in the envelope


def test_every_http_error_uses_the_envelope_and_is_counted(server):
    url = server.url
    json_type = {"content-type": "application/json"}
    cases = {
        "not_found": httpx.get(f"{url}/v2/nothing"),
        "method_not_allowed": httpx.delete(f"{url}/v1/analyze"),
        "deep": httpx.post(f"{url}/v1/analyze", content=b"[" * 50_000 + b"]" * 50_000, headers=json_type),
        "latin1": httpx.post(f"{url}/v1/analyze", content='{"text": "café"}'.encode("latin-1"),
                             headers=json_type),
        "no_type": httpx.post(f"{url}/v1/analyze", content=b'{"text": "hello"}'),
        "text_type": httpx.post(f"{url}/v1/analyze", content=b'{"text": "hello"}',
                                headers={"content-type": "text/plain"}),
    }
    expected = {"not_found": (404, "NotFound"), "method_not_allowed": (405, "MethodNotAllowed"),
                "deep": (400, "MalformedJSON"), "latin1": (400, "InvalidEncoding"),
                "no_type": (415, "UnsupportedMediaType"), "text_type": (415, "UnsupportedMediaType")}
    for name, response in cases.items():
        body = response.json()
        assert (response.status_code, body["error"]["type"]) == expected[name], (name, body)
        assert set(body) == {"error"} and body["error"]["message"]
    scraped = httpx.get(f"{url}/metrics").text
    assert metric(scraped, "redheart_requests_total", 'status="not_found"') >= 1
    assert metric(scraped, "redheart_requests_total", 'status="method_not_allowed"') >= 1
    assert metric(scraped, "redheart_requests_total", 'status="bad_request"') >= 4
