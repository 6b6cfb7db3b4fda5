"""``redheart serve`` as operators run it: a subprocess on the default (offline) path."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import subprocess
import sys

import httpx

from .conftest import REPO

DILEMMAS = [json.loads(line)["text"] for line in (REPO / "examples" / "dilemmas.jsonl").read_text().splitlines()
            if line.strip()]


async def load_until(url: str, stop_after_ok: int, clients: int = 16) -> tuple[int, int]:
    """``clients`` loops posting analyses until ``stop_after_ok`` answers came back or the
    server vanishes; returns (answered, failed)."""
    answered = failed = 0
    enough = asyncio.Event()

    async def client_loop(n: int) -> None:
        nonlocal answered, failed
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            i = 0
            while not enough.is_set():
                try:
                    response = await client.post("/v1/analyze", json={
                        "text": f"{DILEMMAS[(n + i) % len(DILEMMAS)]} (case {n}-{i})"})
                except httpx.TransportError:
                    failed += 1
                    return
                assert response.status_code == 200, response.text
                answered += 1
                i += 1
                if answered >= stop_after_ok:
                    enough.set()

    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    return answered, failed


def test_kill_9_under_load_leaves_a_consistent_store_and_the_restarted_service_answers(
        serve_process, tmp_path):
    store = tmp_path / "experience.db"
    first = serve_process("--set", f"experience.path={store}")

    async def load_then_kill() -> tuple[int, int]:
        task = asyncio.create_task(load_until(first.url, stop_after_ok=10**9))
        while sqlite3.connect(store).execute("SELECT COUNT(*) FROM experiences").fetchone()[0] < 16:
            await asyncio.sleep(0.05)
        first.proc.kill()  # SIGKILL while 16 clients keep requests in flight
        return await task

    answered, cut_off = asyncio.run(load_then_kill())
    assert first.proc.wait(30) == -signal.SIGKILL
    assert answered >= 8 and cut_off >= 1, "the kill landed while requests were in flight"

    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT COUNT(*) FROM experiences").fetchone()[0]
    db.close()
    assert rows >= answered  # every answered request stored its decision

    second = serve_process("--set", f"experience.path={store}")
    response = httpx.post(f"{second.url}/v1/analyze", json={"text": DILEMMAS[0]}, timeout=60)
    assert response.status_code == 200
    result = response.json()
    assert result["errors"] == []
    assert result["circuit"]["experience_matches"], "the restarted service reads the old store"
    assert second.stop() == 0
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM experiences").fetchone()[0] == rows + 1


def test_sigterm_finishes_in_flight_requests_then_closes_with_json_logs(serve_process):
    server = serve_process("--set", "logging.format=json", "--set", "server.shutdown_timeout_s=60")
    texts = DILEMMAS

    async def batch_then_sigterm() -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            logged = await client.post("/v1/analyze", json={"text": DILEMMAS[1], "request_id": "trace-7"})
            assert logged.status_code == 200
            batch = asyncio.create_task(client.post("/v1/analyze/batch", json={"texts": texts}))
            while "redheart_in_flight 0.0" in (await client.get("/metrics")).text:
                assert not batch.done(), "the batch ended before it was seen in flight"
                await asyncio.sleep(0.01)
            server.proc.send_signal(signal.SIGTERM)
            return await batch

    response = asyncio.run(batch_then_sigterm())
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == texts
    assert server.proc.wait(60) == 0
    events = server.log_events()
    assert events, "logging.format=json writes JSON lines"
    ours = [e for e in events if e.get("request_id") == "trace-7"]
    assert {e.get("event") for e in ours} >= {"stage_finished", "request_finished", "http_request"}
    names = [e.get("event") for e in events]
    assert names.index("pipeline_closing") < names.index("pipeline_closed")
    assert all(e.get("event") != "request_cancelled" for e in events), "in-flight work was finished"


def test_serve_config_errors_exit_2_without_a_traceback(tmp_path):
    bad_key = subprocess.run([sys.executable, "-m", "redheart_core", "serve", "--set", "pipeline.workers=2"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad_key.returncode == 2
    assert "pipeline.workers" in bad_key.stderr and "Traceback" not in bad_key.stderr
    no_api_key = subprocess.run(
        [sys.executable, "-m", "redheart_core", "serve", "--set", "llm.backend=claude",
         "--set", "analyzers=[]"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if k != "ANTHROPIC_API_KEY"})
    assert no_api_key.returncode == 2
    assert "ANTHROPIC_API_KEY" in no_api_key.stderr and "Traceback" not in no_api_key.stderr


def test_a_port_in_use_is_reported_with_exit_2_before_any_model_loads():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # a checkpoint that does not exist: had the models loaded first, this would be the error
        busy = subprocess.run([sys.executable, "-m", "redheart_core", "serve", "--port", str(port),
                               "--set", "analyzer_options.emotion.checkpoint=/nonexistent/emotion.pt"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 2, busy.stderr
    assert busy.stderr.strip().splitlines() == [
        f"error: config: server.port: 127.0.0.1:{port} is already in use; stop what holds it or "
        "choose another port (--port)"]


def test_an_address_that_cannot_be_bound_exits_2():
    proc = subprocess.run([sys.executable, "-m", "redheart_core", "serve", "--host", "192.0.2.1",
                           "--set", "analyzers=[]"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "server.host: cannot bind 192.0.2.1:8000" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_says_what_it_loads_and_where_it_is_ready_and_ctrl_c_exits_130(serve_process):
    server = serve_process("--set", "analyzers=[emotion]")
    log = server.log()
    assert "loading: LLM backend none; analyzers emotion; embedder redheart" in log
    assert f"ready: http://127.0.0.1:{server.port} (" in log
    assert log.index("loading:") < log.index("loaded in") < log.index("ready:")
    assert " INFO " not in log, "quiet by default: no per-request records"
    assert server.stop(signal.SIGINT) == 130
    assert server.log_path.read_text().rstrip().endswith("error: interrupted")


def test_sigterm_ends_serve_with_0(serve_process):
    server = serve_process("--set", "analyzers=[]", "-q")
    assert "ready:" not in server.log(), "-q says nothing"
    assert server.stop(signal.SIGTERM) == 0
