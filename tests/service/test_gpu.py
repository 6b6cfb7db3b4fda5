"""On a CUDA device /metrics reports the process's device memory."""

from __future__ import annotations

import httpx
import pytest

from redheart_core.config import load_config
from redheart_core.service import create_app

from .conftest import metric


@pytest.mark.gpu
async def test_metrics_report_device_memory_on_a_gpu(live_server):
    server = live_server(create_app(load_config(overrides=["memory.device=cuda",
                                                           "embedding.device=cuda"])))
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        response = await client.post("/v1/analyze", json={"text": "Should I tell my sister the truth?"})
        scraped = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert response.json()["memory"]["device"].startswith("cuda")
    assert metric(scraped, "redheart_gpu_memory_bytes") > 0
    assert metric(scraped, "redheart_gpu_memory_peak_bytes") >= metric(scraped, "redheart_gpu_memory_bytes")
