"""CLI start-up: ``redheart --help`` under 0.5 s and ``redheart plugins`` under 1 s (median).

Baseline in the same run: a bare ``python -c pass``, so the figures can be read against the
interpreter's own start-up on this machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 9


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> bool:
    from redheart_core.testing.plugin_suite import modules_imported_by

    py = sys.executable
    base = median_seconds([py, "-c", "pass"])
    help_s = median_seconds([py, "-m", "redheart_core", "--help"])
    plugins_s = median_seconds([py, "-m", "redheart_core", "plugins", "--json"])
    heavy = ",".join(modules_imported_by(
        "import redheart_core.cli; from redheart_core.plugins import get_registry; get_registry()",
        ("torch", "transformers", "anthropic", "openai", "sentence_transformers", "lightning", "numpy")))
    print(f"python -c pass (baseline)   median {base * 1000:7.1f} ms")
    print(f"redheart --help             median {help_s * 1000:7.1f} ms  (target < 500 ms)")
    print(f"redheart plugins --json     median {plugins_s * 1000:7.1f} ms  (target < 1000 ms)")
    print(f"heavy modules imported by CLI + plugin loading: {heavy or 'none'}")
    return help_s < 0.5 and plugins_s < 1.0 and not heavy
