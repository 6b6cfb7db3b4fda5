"""Fixtures for the training and batch tests: a small offline config and batch inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMOTION_DATA = REPO / "examples" / "experiments" / "emotion"
DILEMMAS = REPO / "examples" / "dilemmas.jsonl"

#: analyzers the batch tests run (LLM stages through the offline `none` backend); `circuit` is
#: left out because its experience store makes a result depend on what the same process analyzed
#: before (docs/training.md)
BATCH_ANALYZERS = ["emotion", "bentham", "ethics", "regret", "surd"]


@pytest.fixture(scope="session")
def offline_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "offline.yaml"
    path.write_text("llm: {backend: none}\n"
                    f"analyzers: [{', '.join(BATCH_ANALYZERS)}]\n"
                    "memory: {strategy: cpu, device: cpu}\n"
                    "embedding: {device: cpu}\n"
                    "pipeline: {batch_size: 4}\n"
                    "seed: 0\n")
    return path


@pytest.fixture(scope="session")
def batch_inputs() -> list[dict]:
    """15 inputs: the 15 shared dilemmas, the last five without an id (generated from text)."""
    lines = [json.loads(l) for l in DILEMMAS.read_text().splitlines() if l.strip()]
    assert len(lines) == 15
    for line in lines[10:]:
        del line["id"]
    return lines


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


def comparable(result: dict) -> dict:
    """A result without what legitimately differs between runs (request id, timings)."""
    return {k: v for k, v in result.items() if k not in ("request_id", "timings_ms")}


def assert_same(a, b, where: str = "result") -> None:
    """Equal structures; floats equal to 1e-6 relative (different micro-batches pad and sum
    in a different order, which moves the last bits of a float32 embedding)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
