"""Service test set-up: small in-process plugins, an in-process server on a real socket, and
``redheart serve`` as a subprocess.

The plugins are real subclasses registered through the same hooks as any plugin: a backend whose
summary streams slowly (to leave a request mid-flight), and an analyzer that fails on request.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from redheart_core import hookimpl
from redheart_core.config import load_config
from redheart_core.errors import StageFailure
from redheart_core.llm.none_backend import NoneBackend
from redheart_core.plugins import get_registry

REPO = Path(__file__).resolve().parents[2]

#: a summary streamed in this many chunks, one every SLOW_CHUNK_S seconds
SLOW_CHUNKS = 8
SLOW_CHUNK_S = 0.05


class SlowSummaryBackend(NoneBackend):
    """The offline backend, but its summary streams in chunks with a pause before each.

    ``chunk_s`` comes from the text (``[slow:0.5]``), so one test can hold a request mid-stream.
    ``closed`` counts summaries abandoned before their last chunk.
    """

    model = "slow-summary"
    started = 0
    abandoned = 0

    async def stream_summary(self, result) -> AsyncIterator[str]:  # type: ignore[override]
        delay = SLOW_CHUNK_S
        if "[slow:" in result.text:
            delay = float(result.text.split("[slow:")[1].split("]")[0])
        type(self).started += 1
        sent = 0
        try:
            for i in range(SLOW_CHUNKS):
                await asyncio.sleep(delay)
                sent += 1
                yield f"part {i + 1} of the summary. "
        finally:
            if sent < SLOW_CHUNKS:
                type(self).abandoned += 1

    async def summarize_final(self, result) -> str:
        return "".join([chunk async for chunk in self.stream_summary(result)])


class FailingAnalyzer:
    """Counts words; raises a StageFailure when the text asks it to (``[fail]``)."""

    name = "svc-failing"
    requires: tuple[str, ...] = ()

    def analyze_batch(self, items) -> list[dict[str, Any]]:
        if any("[fail]" in item.text for item in items):
            raise StageFailure("asked to fail by the text", "AnalyzerFailed")
        return [{"words": len(item.text.split())} for item in items]


class ServiceTestPlugins:
    @hookimpl
    def redheart_register_llm_backends(self, register):
        register("svc-slow", lambda options: SlowSummaryBackend(),
                 description="offline backend whose summary streams slowly (service tests)")

    @hookimpl
    def redheart_register_analyzers(self, register):
        register("svc-failing", lambda options: FailingAnalyzer(),
                 description="word count that fails on '[fail]' (service tests)")


@pytest.fixture(scope="module", autouse=True)
def service_plugins() -> Iterator[None]:
    """Registered per test module, so the plugins never leak into other folders' tests."""
    registry = get_registry(())
    registry.register_plugin(ServiceTestPlugins(), "svc-test-plugins")
    yield
    registry.unregister_plugin("svc-test-plugins")


def small_config(*overrides: str):
    """The test backend and analyzer: no model loads, so a server starts in a blink."""
    return load_config(overrides=["llm.backend=svc-slow", "analyzers=[svc-failing]", *overrides])


# ------------------------------------------------------------------ in-process server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """An app under a real uvicorn server on a loopback socket, in a thread of this process."""

    def __init__(self, app: Any):
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_config=None, access_log=False,
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def service(self) -> Any:
        return self.app.state.service


@pytest.fixture
def live_server():
    """``live_server(app)`` starts the app on a free loopback port; stopped after the test."""
    started: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__()


def metric(text: str, name: str, labels: str = "") -> float:
    """A sample's value from Prometheus text; fails the test when the sample is missing."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {prefix.strip()} in /metrics")


# ------------------------------------------------------------------ redheart serve subprocess


class ServeProcess:
    """``redheart serve`` in a subprocess, its log in a file; ``fd_limit`` caps its open files."""

    def __init__(self, tmp_path: Path, *args: str, name: str = "serve", fd_limit: int | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

        def limit_files() -> None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "redheart_core", "serve", "--port", str(self.port), *args],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            preexec_fn=limit_files if fd_limit is not None else None)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines (with ``logging.format=json``)."""
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()


@pytest.fixture
def serve_process(tmp_path):
    """``serve_process(*args)`` starts ``redheart serve`` and waits until it is ready."""
    started: list[ServeProcess] = []

    def start(*args: str, name: str = "serve", ready: bool = True,
              fd_limit: int | None = None) -> ServeProcess:
        proc = ServeProcess(tmp_path, *args, name=f"{name}-{len(started)}", fd_limit=fd_limit)
        started.append(proc)
        if ready:
            proc.wait_ready()
        return proc

    yield start
    for proc in started:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
