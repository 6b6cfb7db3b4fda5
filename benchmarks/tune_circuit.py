"""How the circuit's ``MODEL_WEIGHTS`` were chosen: dev AUC of ``circuit.final_ethical_score``
for each candidate pair of weights, with the default config (history on, as a user runs it).

``python -m benchmarks.tune_circuit`` prints one row per candidate; the shipped weights are the
best row (ties go to the smaller weights). Only the dev split of the tree's commonsense data is
read, never a test split.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

UTILITY = (0.0, 0.1, 0.25, 0.5)
EXPERIENCE = (0.0, 0.1, 0.2)


def main() -> bool:
    from redheart_core.analyzers import circuit
    from redheart_core.config import load_config
    from redheart_core.model.evaluation import DevSets, evaluate_config

    from .bench_quality import DATA

    dev = DevSets.load(DATA)
    dev = replace(dev, utility=[], vad=[], emotion=[])
    config = load_config(overrides=["experience.path=null"])
    shipped = dict(circuit.MODEL_WEIGHTS)
    rows = []
    try:
        for u, e in itertools.product(UTILITY, EXPERIENCE):
            circuit.MODEL_WEIGHTS.update(utility=u, experience=e)
            auc = evaluate_config(config, dev)["acceptability_auc"]
            rows.append((auc, -u - e, u, e))
            print(f"utility {u:<5} experience {e:<5} dev acceptability AUC {auc:.4f}", flush=True)
    finally:
        circuit.MODEL_WEIGHTS.update(shipped)
    best = max(rows)
    print(f"best: utility {best[2]}, experience {best[3]} (AUC {best[0]:.4f}); shipped: {shipped}")
    return True


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
