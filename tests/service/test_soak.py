"""The 2-minute soak: ``make soak``'s script at modest load, judged by the same rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_two_minute_soak_loses_no_request_and_rss_stays_flat(tmp_path):
    plot, summary_path = tmp_path / "soak.png", tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--minutes", "2", "--rate", "1",
                          "--sample-every", "3", "--warmup", "30", "--plot", str(plot),
                          "--summary", str(summary_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["passed"] and summary["failures"] == []
    assert summary["requests_sent"] >= 100 and summary["requests_lost"] == 0
    assert summary["server_counted"] == summary["requests_ok"] == summary["requests_sent"]
    assert summary["rss_growth_mb"] <= 20
    assert len(summary["samples"]) >= 30
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
