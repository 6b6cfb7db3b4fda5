"""Prometheus metrics of the service: what the HTTP layer counts, plus the pipeline's live state.

Each app has its own :class:`~prometheus_client.CollectorRegistry`, so two apps in one process
(tests) never share counters. Pipeline and memory figures are read at scrape time from
``pipeline.stats()`` and the memory manager; nothing is sampled in the background.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector

from ..schema import STAGES, AnalysisResult

if TYPE_CHECKING:
    from ..memory.manager import UnifiedMemoryManager
    from ..pipeline import Pipeline

#: every value of ``redheart_requests_total{status}``, exported from zero
STATUSES: tuple[str, ...] = (
    "ok",                  # 200, every stage succeeded
    "partial",             # 200, the result carries errors[]
    "bad_request",         # 400 malformed JSON or not UTF-8, 415 not sent as application/json
    "bad_host",            # 400, the Host header is not in server.allowed_hosts
    "unauthorized",        # 401, no valid API key (server.api_keys)
    "not_found",           # 404, no such endpoint
    "method_not_allowed",  # 405
    "timeout",             # 408, the body did not arrive within server.body_timeout_s
    "too_large",           # 413, body, text or batch over its limit
    "invalid",             # 422, the body does not match the schema
    "queue_full",          # 503, the pipeline rejected the request (pipeline.overflow: reject)
    "not_ready",           # 503, the pipeline is not running (starting or shutting down)
    "shutdown",            # 503 or a stream's error event: cut off at server.shutdown_timeout_s
    "cancelled",           # the client went away before the result; the request was cancelled
    "error",               # 500, a bug: logged with its traceback, never sent to the client
)

STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0, 30.0, 60.0, 120.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """The counters and histograms one app keeps, and their Prometheus text."""

    def __init__(self, pipeline: Callable[[], "Pipeline | None"]):
        disable_created_metrics()  # the *_created series double the output and nobody reads them
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("redheart_requests", "HTTP requests answered, by outcome "
                                "(one per text for the batch endpoint).", ["status"],
                                registry=self.registry)
        for status in STATUSES:
            self.requests.labels(status)
        self.stage_seconds = Histogram("redheart_stage_seconds", "Time a request spent in each "
                                       "pipeline stage.", ["stage"], buckets=STAGE_BUCKETS,
                                       registry=self.registry)
        for stage in STAGES:
            self.stage_seconds.labels(stage)
        self.request_seconds = Histogram("redheart_request_seconds", "End-to-end time of an "
                                         "analysis inside the pipeline.", buckets=STAGE_BUCKETS,
                                         registry=self.registry)
        self.registry.register(PipelineCollector(pipeline))
        ProcessCollector(registry=self.registry)
        self._total_seconds = 0.0
        self._results = 0

    def count(self, status: str, n: int = 1) -> None:
        self.requests.labels(status).inc(n)

    def observe(self, result: AnalysisResult) -> str:
        """Count one finished result and record its stage timings; returns its status."""
        for stage, ms in result.timings_ms.items():
            if stage in STAGES:
                self.stage_seconds.labels(stage).observe(ms / 1000.0)
        if "total" in result.timings_ms:
            seconds = result.timings_ms["total"] / 1000.0
            self.request_seconds.observe(seconds)
            self._total_seconds += seconds
            self._results += 1
        status = "ok" if result.ok else "partial"
        self.count(status)
        return status

    def total(self, status: str) -> int:
        """How many requests were counted under ``status`` so far."""
        value = self.registry.get_sample_value("redheart_requests_total", {"status": status})
        return int(value or 0)

    def mean_request_seconds(self) -> float:
        """Mean end-to-end time of the results seen so far (for Retry-After)."""
        return self._total_seconds / self._results if self._results else 1.0

    def render(self) -> bytes:
        return generate_latest(self.registry)


class PipelineCollector:
    """Reads the pipeline's queues, stage states, retries and the memory manager at scrape time."""

    def __init__(self, pipeline: Callable[[], Any]):
        self.pipeline = pipeline

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        pipe = self.pipeline()
        stats = pipe.stats() if pipe is not None else {}
        yield GaugeMetricFamily("redheart_queue_depth", "Requests waiting for a pipeline slot.",
                                value=stats.get("queue_depth", 0))
        yield GaugeMetricFamily("redheart_in_flight", "Requests inside the pipeline (queued or "
                                "running).", value=stats.get("in_flight", 0))
        yield CounterMetricFamily("redheart_llm_retries", "Retried LLM calls.",
                                  value=stats.get("llm_retries_total", 0))
        active = GaugeMetricFamily("redheart_stage_requests", "Requests queued for or running in "
                                   "each stage.", labels=["stage", "state"])
        finished = CounterMetricFamily("redheart_stage_finished", "Stage runs finished, by "
                                       "outcome.", labels=["stage", "outcome"])
        for stage, state in stage_states(stats).items():
            for key in ("queued", "running"):
                active.add_metric([stage, key], state.get(key, 0))
            finished.add_metric([stage, "done"], state.get("done", 0))
            finished.add_metric([stage, "failed"], state.get("failed", 0))
        yield active
        yield finished
        memory = pipe.memory if pipe is not None else None
        mstats = memory.stats() if memory is not None else {}
        yield GaugeMetricFamily("redheart_gpu_memory_bytes", "Device memory allocated by this "
                                "process (0 without a GPU).", value=gpu_memory_bytes(memory))
        yield GaugeMetricFamily("redheart_gpu_memory_peak_bytes", "Peak device memory of this "
                                "process.", value=_peak(memory))
        swaps = CounterMetricFamily("redheart_swaps", "Module moves between host and device "
                                    "memory.", labels=["direction"])
        swaps.add_metric(["in"], mstats.get("swaps_in", 0))
        swaps.add_metric(["out"], mstats.get("swaps_out", 0))
        yield swaps
        recoveries = CounterMetricFamily("redheart_oom_recoveries", "Out-of-memory errors the "
                                         "memory manager got past, by the step that did it.",
                                         labels=["action"])
        actions = mstats.get("oom_actions", {})
        for action in ("retry", "split", "cpu"):
            recoveries.add_metric([action], actions.get(action, 0))
        yield recoveries


def stage_states(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The per-stage ``{queued, running, done, failed}`` counts from ``pipeline.stats()``."""
    stages = stats.get("stages", {})
    return {stage: dict(stages.get(stage, {})) for stage in (*STAGES, *sorted(set(stages) - set(STAGES)))}


def gpu_memory_bytes(memory: "UnifiedMemoryManager | None") -> int:
    device = memory.device if memory is not None else "cpu"
    torch = sys.modules.get("torch")  # loaded by whoever put a module on the GPU
    if torch is None or not device.startswith("cuda") or not torch.cuda.is_available():
        return 0
    return int(torch.cuda.memory_allocated(device))


def _peak(memory: "UnifiedMemoryManager | None") -> int:
    return memory.peak_gpu_bytes() if memory is not None else 0
