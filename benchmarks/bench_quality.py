"""Quality: the default analysis' dev figures beside two baselines measured in the same run.

On the dev sets the Red Heart model never trained on (carved out of the tree's train data by
``redheart_core.model.corpus``; the public test splits are not in the project), reading the
result fields as docs/result.md defines them (:mod:`redheart_core.model.evaluation`):

1. **redheart**: the default config (the shipped Red Heart model, offline ``none`` LLM);
2. **heuristic**: the earlier path, ``embedding.model=bundled-minilm`` (prototypes, calculus);
3. **frozen + linear**: the plain all-MiniLM-L6-v2 vectors with a linear model per task fitted
   on the train split here (logistic regression, a pairwise logistic scorer, ridge).

Also: utility pairs that the frozen linear scorer gets wrong, a stand-in for ETHICS' hard test
(adversarially filtered against such models), and emotion accuracy on the 140 held-out
sentences of ``tests/analyzers/data/emotion_eval.jsonl``. Target: the default beats both
baselines on every dev figure, and the held-out emotion accuracy stays >= 0.85 (the heuristic's
exemplars were widened while looking at that set's misses, so it is no fair baseline there).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
EMOTION_HELDOUT = ROOT / "tests" / "analyzers" / "data" / "emotion_eval.jsonl"
L2 = 1e-3
FIGURES = ("acceptability_auc", "utility_pairs", "utility_probe_hard", "valence_r", "arousal_r",
           "dominance_r", "emotion_accuracy", "emotion_heldout_accuracy")
TEST_TARGETS = {"acceptability_auc": ">= 0.86", "utility_pairs": ">= 0.75", "utility_probe_hard": "(hard >= 0.50)",
                "valence_r": ">= 0.68", "arousal_r": ">= 0.45", "dominance_r": ">= 0.38",
                "emotion_heldout_accuracy": ">= 0.85"}


def _fit_logistic(x: np.ndarray, y: np.ndarray, classes: int = 1, bias: bool = True):
    """Weights of an L2-regularised logistic (or softmax) regression, by L-BFGS."""
    import torch

    xt = torch.as_tensor(x, dtype=torch.float64)
    linear = torch.nn.Linear(x.shape[1], classes, bias=bias).double()
    torch.nn.init.zeros_(linear.weight)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")
    target = torch.as_tensor(y)

    def closure():
        optimizer.zero_grad()
        out = linear(xt)
        if classes == 1:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], target.double())
        else:
            loss = torch.nn.functional.cross_entropy(out, target.long())
        loss = loss + L2 * (linear.weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda z: linear(torch.as_tensor(z, dtype=torch.float64)).detach().numpy()


def _ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x1 = np.hstack([x, np.ones((len(x), 1))])
    return np.linalg.solve(x1.T @ x1 + 1.0 * np.eye(x1.shape[1]), x1.T @ y)


def frozen_linear(dev, heldout) -> tuple[dict[str, float], np.ndarray]:
    """Figures of linear models on frozen all-MiniLM-L6-v2 vectors, and which dev utility pairs
    the linear scorer gets wrong."""
    from redheart_core.analyzers.embedder import get_embedder
    from redheart_core.model import metrics
    from redheart_core.model.corpus import load_task
    from redheart_core.schema import EMOTIONS

    encode = get_embedder("bundled-minilm", device="cpu", cache_size=1).encode
    out: dict[str, float] = {}
    train = load_task(DATA, "acceptability").train
    model = _fit_logistic(encode([e.text for e in train]), np.array([e.target[0] for e in train]))
    scores = model(encode([e.text for e in dev.acceptability]))[:, 0]
    out["acceptability_auc"] = metrics.auc(scores, np.array([e.target[0] > 0.5 for e in dev.acceptability]))

    train = load_task(DATA, "utility").train
    diff = encode([e.text for e in train]) - encode([e.worse for e in train])
    scorer = _fit_logistic(np.vstack([diff, -diff]), np.r_[np.ones(len(diff)), np.zeros(len(diff))],
                           bias=False)
    better = scorer(encode([e.text for e in dev.utility]))[:, 0]
    worse = scorer(encode([e.worse for e in dev.utility]))[:, 0]
    out["utility_pairs"] = metrics.pair_accuracy(better, worse)
    probe_wrong = better <= worse
    out["utility_probe_hard"] = 0.0

    train = load_task(DATA, "vad").train
    weights = _ridge(encode([e.text for e in train]), np.array([e.target for e in train]))
    x = encode([e.text for e in dev.vad])
    predicted = np.hstack([x, np.ones((len(x), 1))]) @ weights
    truth = np.array([e.target for e in dev.vad])
    for i, dim in enumerate(("valence", "arousal", "dominance")):
        out[f"{dim}_r"] = metrics.pearson(predicted[:, i], truth[:, i])

    train = load_task(DATA, "emotion").train
    classify = _fit_logistic(encode([e.text for e in train]), np.array([e.target[0] for e in train]),
                             classes=len(EMOTIONS))
    for name, examples in (("emotion_accuracy", dev.emotion), ("emotion_heldout_accuracy", heldout)):
        predicted = classify(encode([e.text for e in examples])).argmax(axis=1)
        out[name] = metrics.accuracy(predicted, np.array([int(e.target[0]) for e in examples]))
    return out, probe_wrong


def pipeline_figures(config, dev, heldout, probe_wrong: np.ndarray) -> dict[str, float]:
    from dataclasses import replace

    from redheart_core.model.evaluation import evaluate_config

    out = evaluate_config(config, dev)
    hard = replace(dev, acceptability=[], vad=[], emotion=[],
                   utility=[e for e, wrong in zip(dev.utility, probe_wrong) if wrong])
    out["utility_probe_hard"] = evaluate_config(config, hard)["utility_pairs"]
    out["emotion_heldout_accuracy"] = evaluate_config(
        config, replace(dev, acceptability=[], utility=[], vad=[], emotion=heldout))["emotion_accuracy"]
    return out


def main() -> bool:
    from redheart_core.config import load_config
    from redheart_core.model.evaluation import DevSets, read_emotion_file

    dev = DevSets.load(DATA)
    heldout = read_emotion_file(EMOTION_HELDOUT)
    print(f"dev: {len(dev.acceptability)} commonsense scenarios, {len(dev.utility)} utility pairs, "
          f"{len(dev.vad)} EmoBank sentences, {len(dev.emotion)} + {len(heldout)} emotion sentences")
    columns = {}
    start = time.perf_counter()
    columns["frozen + linear"], probe_wrong = frozen_linear(dev, heldout)
    print(f"frozen + linear fitted and scored in {time.perf_counter() - start:.0f} s "
          f"({int(probe_wrong.sum())} dev pairs the linear scorer gets wrong)")
    for name, overrides in (("redheart", []), ("heuristic", ["embedding.model=bundled-minilm"])):
        start = time.perf_counter()
        config = load_config(overrides=overrides + ["experience.path=null"])
        columns[name] = pipeline_figures(config, dev, heldout, probe_wrong)
        print(f"{name} analysed in {time.perf_counter() - start:.0f} s")
    order = ("redheart", "heuristic", "frozen + linear")
    print(f"\n{'dev figure':<26}" + "".join(f"{c:>17}" for c in order) + f"{'test target':>16}")
    for figure in FIGURES:
        row = "".join(f"{columns[c].get(figure, float('nan')):>17.3f}" for c in order)
        print(f"{figure:<26}{row}{TEST_TARGETS.get(figure, ''):>16}")
    ours = columns["redheart"]
    beaten = [f for f in FIGURES if f not in ("utility_probe_hard", "emotion_heldout_accuracy")
              and any(ours[f] < columns[c][f] for c in order[1:])]
    if beaten:
        print(f"below a baseline: {', '.join(beaten)}")
    return not beaten and ours["emotion_heldout_accuracy"] >= 0.85


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
