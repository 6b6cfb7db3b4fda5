"""Soak test: steady load against ``redheart serve`` on loopback, sampling the server process.

``python -m benchmarks.soak --minutes 20`` (``make soak``; ``SOAK_MINUTES=2 make soak`` for a
short run) starts the service, sends requests at a fixed rate (open loop: a slow answer does not
slow the sender), and every few seconds records the server's RSS, open file descriptors, thread
count and device memory (from ``/metrics``). It fails when any request is lost (not answered
200, or the server's own count disagrees with the client's) or when RSS grows more than
``--max-rss-growth-mb`` between the end of warm-up and the end of the run. It writes a PNG plot
of the samples and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DILEMMAS = REPO / "examples" / "dilemmas.jsonl"


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    threads: int
    gpu_mb: float
    queue_depth: float


@dataclass
class Outcome:
    sent_at: float
    seconds: float
    status: int | str


@dataclass
class Summary:
    minutes: float
    rate: float
    warmup_s: float
    requests_sent: int = 0
    requests_ok: int = 0
    requests_lost: int = 0
    server_counted: int = 0
    rss_start_mb: float = 0.0
    rss_after_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_growth_mb: float = 0.0
    fds_start: int = 0
    fds_end: int = 0
    threads_start: int = 0
    threads_end: int = 0
    gpu_end_mb: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    plot: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def texts() -> list[str]:
    return [json.loads(line)["text"] for line in DILEMMAS.read_text().splitlines() if line.strip()]


def metric(text: str, name: str, labels: str = "") -> float:
    """One sample's value from Prometheus text (0 when absent)."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def wait_ready(client, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redheart serve exited with {proc.returncode} before it was ready")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except Exception:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"redheart serve was not ready after {timeout:.0f} s")


async def drive(base_url: str, proc: subprocess.Popen, args: argparse.Namespace,
                summary: Summary) -> tuple[list[Sample], list[Outcome]]:
    import httpx
    import psutil

    server = psutil.Process(proc.pid)
    samples: list[Sample] = []
    outcomes: list[Outcome] = []
    corpus = texts()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=base_url, timeout=args.request_timeout, limits=limits) as client:
        await wait_ready(client, proc, args.ready_timeout)
        start = time.monotonic()
        end = start + args.minutes * 60

        async def one(i: int) -> None:
            sent = time.monotonic()
            try:
                # each text unique, so the embedder works on every request (no cache hits)
                response = await client.post("/v1/analyze", json={
                    "text": f"{corpus[i % len(corpus)]} (case {i})", "request_id": f"soak-{i}"})
                status: int | str = response.status_code
            except Exception as exc:  # a lost request, counted below
                status = type(exc).__name__
            outcomes.append(Outcome(sent - start, time.monotonic() - sent, status))

        async def sample() -> None:
            while True:
                try:
                    text = (await client.get("/metrics")).text
                except Exception:
                    text = ""
                with server.oneshot():
                    samples.append(Sample(
                        t=time.monotonic() - start, rss_mb=server.memory_info().rss / 2**20,
                        fds=server.num_fds(), threads=server.num_threads(),
                        gpu_mb=metric(text, "redheart_gpu_memory_bytes") / 2**20,
                        queue_depth=metric(text, "redheart_queue_depth")))
                if time.monotonic() >= end:
                    return
                await asyncio.sleep(args.sample_every)

        sampler = asyncio.create_task(sample())
        tasks = []
        i = 0
        while (now := time.monotonic()) < end:
            tasks.append(asyncio.create_task(one(i)))
            i += 1
            await asyncio.sleep(max(0.0, start + i / args.rate - now))
        await asyncio.gather(*tasks)
        await sampler
        text = (await client.get("/metrics")).text
        summary.server_counted = int(metric(text, "redheart_requests_total", 'status="ok"')
                                     + metric(text, "redheart_requests_total", 'status="partial"'))
    return samples, outcomes


def judge(summary: Summary, samples: list[Sample], outcomes: list[Outcome],
          max_growth_mb: float) -> None:
    summary.requests_sent = len(outcomes)
    summary.requests_ok = sum(1 for o in outcomes if o.status == 200)
    summary.requests_lost = summary.requests_sent - summary.requests_ok
    latencies = [o.seconds * 1000 for o in outcomes if o.status == 200]
    summary.latency_p50_ms = round(percentile(latencies, 0.50), 1)
    summary.latency_p99_ms = round(percentile(latencies, 0.99), 1)
    summary.latency_max_ms = round(max(latencies, default=0.0), 1)
    if samples:
        after = [s for s in samples if s.t >= summary.warmup_s] or samples[-1:]
        summary.rss_start_mb = round(samples[0].rss_mb, 1)
        summary.rss_after_warmup_mb = round(after[0].rss_mb, 1)
        summary.rss_end_mb = round(samples[-1].rss_mb, 1)
        summary.rss_max_mb = round(max(s.rss_mb for s in samples), 1)
        summary.rss_growth_mb = round(samples[-1].rss_mb - after[0].rss_mb, 1)
        summary.fds_start, summary.fds_end = samples[0].fds, samples[-1].fds
        summary.threads_start, summary.threads_end = samples[0].threads, samples[-1].threads
        summary.gpu_end_mb = round(samples[-1].gpu_mb, 1)
    if summary.requests_lost:
        kinds = sorted({str(o.status) for o in outcomes if o.status != 200})
        summary.failures.append(f"{summary.requests_lost} of {summary.requests_sent} requests lost "
                                f"({', '.join(kinds)})")
    if summary.server_counted != summary.requests_ok:
        summary.failures.append(f"the server counted {summary.server_counted} answered requests, "
                                f"the client {summary.requests_ok}")
    if summary.rss_growth_mb > max_growth_mb:
        summary.failures.append(f"RSS grew {summary.rss_growth_mb:.1f} MB after warm-up "
                                f"(limit {max_growth_mb:.0f} MB)")
    summary.passed = not summary.failures


def plot(path: Path, summary: Summary, samples: list[Sample], outcomes: list[Outcome]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t / 60 for s in samples]
    fig, axes = plt.subplots(5, 1, figsize=(9, 12), sharex=True)
    series = [("RSS (MB)", [s.rss_mb for s in samples]), ("open fds", [s.fds for s in samples]),
              ("threads", [s.threads for s in samples]),
              ("device memory (MB)", [s.gpu_mb for s in samples])]
    for ax, (label, values) in zip(axes, series):
        ax.plot(t, values, marker=".", linewidth=1)
        ax.set_ylabel(label)
        ax.axvline(summary.warmup_s / 60, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    if not any(s.gpu_mb for s in samples):
        axes[3].text(0.5, 0.5, "no GPU device", transform=axes[3].transAxes, ha="center",
                     color="grey")
    ok = [o for o in outcomes if o.status == 200]
    axes[4].scatter([o.sent_at / 60 for o in ok], [o.seconds * 1000 for o in ok], s=4)
    axes[4].set_ylabel("latency (ms)")
    axes[4].set_xlabel("minutes")
    axes[4].grid(alpha=0.3)
    fig.suptitle(f"redheart soak: {summary.requests_sent} requests at {summary.rate:g}/s, "
                 f"RSS {summary.rss_after_warmup_mb:.0f} → {summary.rss_end_mb:.0f} MB after warm-up, "
                 f"p50 {summary.latency_p50_ms:.0f} ms, p99 {summary.latency_p99_ms:.0f} ms",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> Summary:
    warmup = args.warmup if args.warmup is not None else min(120.0, args.minutes * 60 * 0.25)
    summary = Summary(minutes=args.minutes, rate=args.rate, warmup_s=warmup)
    workdir = Path(tempfile.mkdtemp(prefix="redheart-soak-"))
    port = free_port()
    command = [sys.executable, "-m", "redheart_core", "serve", "--port", str(port),
               "--set", f"experience.path={workdir / 'experience.db'}",
               "--set", "logging.format=json", "--set", "logging.level=WARNING",
               *[item for c in args.config for item in ("--config", c)],
               *[item for s in args.set for item in ("--set", s)]]
    log_path = workdir / "serve.log"
    print(f"soak: {args.minutes:g} min at {args.rate:g} requests/s against {' '.join(command[1:])}"
          f" (log {log_path})", flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        try:
            samples, outcomes = asyncio.run(drive(f"http://127.0.0.1:{port}", proc, args, summary))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    judge(summary, samples, outcomes, args.max_rss_growth_mb)
    if args.plot:
        plot(Path(args.plot), summary, samples, outcomes)
        summary.plot = str(args.plot)
    if args.summary:
        Path(args.summary).write_text(json.dumps({**asdict(summary),
                                                  "samples": [asdict(s) for s in samples]}, indent=2))
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 20)))
    p.add_argument("--rate", type=float, default=float(os.environ.get("SOAK_RATE", 1.0)),
                   help="requests per second (default 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the RSS baseline (default: a quarter of the run, at most 120)")
    p.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--max-rss-growth-mb", type=float, default=20.0)
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--plot", default="soak.png", help="PNG of the samples ('' for none)")
    p.add_argument("--summary", default=None, help="write the summary and samples as JSON here")
    p.add_argument("--config", action="append", default=[], help="config file for the server")
    p.add_argument("--set", action="append", default=[], help="config override for the server")
    return p


def main(argv: list[str] | None = None) -> int:
    summary = run(parser().parse_args(argv))
    for key, value in asdict(summary).items():
        if key != "failures":
            print(f"  {key:20s} {value}")
    print("soak: PASS" if summary.passed else "soak: FAIL: " + "; ".join(summary.failures))
    return 0 if summary.passed else 1


if __name__ == "__main__":
    sys.exit(main())
