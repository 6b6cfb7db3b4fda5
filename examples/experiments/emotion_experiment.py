"""The emotion-head experiment: train, compare with the prototype default, run a batch.

    python examples/experiments/emotion_experiment.py [--workdir DIR] [--max-epochs N]

1. ``redheart train emotion`` on ``emotion/train.jsonl`` (it holds back its own validation
   split for early stopping; ``emotion/heldout.jsonl`` is never seen in training);
2. the emotion analyzer with its prototype default and with the trained checkpoint, scored on
   ``emotion/heldout.jsonl`` (accuracy and macro-F1 of the distribution's top label);
3. ``redheart batch`` over ``examples/dilemmas.jsonl`` with the trained head, then
   ``redheart surd`` over the results.

Everything runs offline on CPU (the ``none`` LLM backend, the bundled MiniLM embedder).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "emotion"
DILEMMAS = HERE.parent / "dilemmas.jsonl"
OFFLINE = HERE.parent / "configs" / "offline.yaml"


def redheart(*args: str) -> None:
    """Run one ``redheart`` command as a user would, echoing it."""
    print("$ redheart " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "redheart_core", *args], check=True)


async def primary_labels(texts: list[str], overrides: list[str]) -> list[str]:
    from redheart_core import Pipeline, load_config

    cfg = load_config([OFFLINE], ["analyzers=[emotion]", *overrides])
    async with Pipeline.from_config(cfg) as pipe:
        results = await pipe.analyze_many(texts)
    labels = []
    for result in results:
        if not result.ok:
            raise SystemExit(f"analysis failed: {result.errors}")
        dist = result.emotion.distribution
        labels.append(max(dist, key=dist.get))
    return labels


def score(predicted: list[str], truth: list[str]) -> dict[str, float]:
    import torch

    from redheart_core.schema import EMOTIONS
    from redheart_core.training.metrics import accuracy, macro_f1

    p = torch.tensor([EMOTIONS.index(x) for x in predicted])
    t = torch.tensor([EMOTIONS.index(x) for x in truth])
    return {"accuracy": accuracy(p, t), "macro_f1": macro_f1(p, t, len(EMOTIONS))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=HERE / "runs")
    parser.add_argument("--max-epochs", default="30")
    args = parser.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    head = work / "emotion-head.pt"

    redheart("train", "emotion", "--data", str(DATA / "train.jsonl"), "--max-epochs", args.max_epochs,
             "--out", str(head), "--config", str(OFFLINE), "--no-progress")

    held = [json.loads(line) for line in (DATA / "heldout.jsonl").read_text().splitlines()]
    texts, truth = [r["text"] for r in held], [r["label"] for r in held]
    default = score(asyncio.run(primary_labels(texts, [])), truth)
    trained = score(asyncio.run(primary_labels(texts, [f"analyzer_options.emotion.checkpoint={head}"])), truth)
    print(f"\nheld-back split: {len(held)} sentences")
    print(f"{'':22}{'accuracy':>10}{'macro-F1':>10}")
    print(f"{'prototype default':22}{default['accuracy']:>10.3f}{default['macro_f1']:>10.3f}")
    print(f"{'trained head':22}{trained['accuracy']:>10.3f}{trained['macro_f1']:>10.3f}\n")
    (work / "comparison.json").write_text(json.dumps(
        {"heldout": len(held), "prototype_default": default, "trained_head": trained}, indent=2))

    results = work / "dilemmas.results.jsonl"
    redheart("batch", str(DILEMMAS), "--out", str(results), "--config", str(OFFLINE),
             "--set", f"analyzer_options.emotion.checkpoint={head}", "--no-progress")
    redheart("surd", "--data", str(results), "--target", "circuit.final_ethical_score",
             "--sources", "emotion.valence,bentham.final_score,regret.anticipated", "--bins", "3",
             "--plot", str(work / "dilemmas.surd.png"))


if __name__ == "__main__":
    main()
