"""`redheart train`: heads train on CPU, print their metrics, and the analyzers use them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli
from redheart_core.config import load_config
from redheart_core.schema import BENTHAM_DIMENSIONS
from redheart_core.training.checkpoints import read_head_metadata

from .conftest import EMOTION_DATA, read_jsonl, write_jsonl

def train_cli(*args: str):
    return CliRunner().invoke(cli, ["train", *args, "--no-progress"], catch_exceptions=False)


@pytest.fixture(scope="module")
def emotion_head(tmp_path_factory, offline_config):
    out = tmp_path_factory.mktemp("heads") / "emotion.pt"
    result = train_cli("emotion", "--data", str(EMOTION_DATA / "train.jsonl"), "--max-epochs", "3",
                       "--out", str(out), "--config", str(offline_config))
    assert result.exit_code == 0, result.output
    return out, result.output


def test_training_the_emotion_head_prints_accuracy_and_macro_f1(emotion_head):
    out, output = emotion_head
    assert "accuracy" in output and "macro_f1" in output
    assert f"--set analyzer_options.emotion.checkpoint={out}" in output
    meta = read_head_metadata(out)
    from redheart_core.analyzers.embedder import get_embedder

    assert meta["embedder_id"] == get_embedder("redheart").model_id  # the default encoder
    assert 0.0 <= meta["metrics"]["accuracy"] <= 1.0
    assert list(out.parent.glob("emotion-checkpoints/emotion-epoch=*.ckpt"))  # Lightning's own


async def test_the_emotion_analyzer_uses_the_trained_checkpoint(emotion_head, offline_config):
    from redheart_core.pipeline import Pipeline

    out, _ = emotion_head
    texts = [r["text"] for r in read_jsonl(EMOTION_DATA / "heldout.jsonl")[:4]]
    base = ["analyzers=[emotion]"]
    default_cfg = load_config([offline_config], base)
    head_cfg = load_config([offline_config], [*base, f"analyzer_options.emotion.checkpoint={out}"])
    async with Pipeline.from_config(default_cfg) as pipe:
        default = await pipe.analyze_many(texts)
    async with Pipeline.from_config(head_cfg) as pipe:
        trained = await pipe.analyze_many(texts)
    for d, t in zip(default, trained):
        assert d.ok and t.ok, (d.errors, t.errors)
        assert t.provenance.models["emotion_head"] == str(out)
        assert "emotion_head" not in d.provenance.models
        assert d.emotion.distribution != t.emotion.distribution
        assert abs(sum(t.emotion.distribution.values()) - 1) < 1e-6


def test_a_checkpoint_from_another_embedder_is_a_config_error(tmp_path, emotion_head, offline_config):
    import torch

    out, _ = emotion_head
    payload = torch.load(out, weights_only=True)
    payload["redheart_head"]["embedder_id"] = "someone/else"
    foreign = tmp_path / "foreign.pt"
    torch.save(payload, foreign)
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"id": "x", "text": "I am scared."}])
    result = CliRunner().invoke(cli, [
        "batch", str(inputs), "--out", str(tmp_path / "o.jsonl"), "--config", str(offline_config),
        "--set", "analyzers=[emotion]", "--set", f"analyzer_options.emotion.checkpoint={foreign}"])
    assert result.exit_code == 2, result.output
    assert "analyzer_options.emotion.checkpoint" in result.output
    assert "trained on embedder 'someone/else'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["bentham", "regret"])
async def test_value_heads_train_print_mae_and_serve_their_analyzer(tmp_path, kind, offline_config):
    from redheart_core.pipeline import Pipeline

    rows = read_jsonl(EMOTION_DATA / "train.jsonl")[:24]
    loss = {"sadness", "fear", "anger", "disgust"}
    records = []
    for r in rows:
        v = 0.8 if r["label"] in loss else 0.2
        target = {d: v for d in BENTHAM_DIMENSIONS} if kind == "bentham" else v
        records.append({"text": r["text"], kind: target})
    data = write_jsonl(tmp_path / "d.jsonl", records)
    out = tmp_path / f"{kind}.pt"
    result = train_cli(kind, "--data", str(data), "--max-epochs", "2", "--out", str(out),
                       "--config", str(offline_config))
    assert result.exit_code == 0, result.output
    assert "mae" in result.output
    assert read_head_metadata(out)["kind"] == kind
    cfg = load_config([offline_config], [f"analyzer_options.{kind}.checkpoint={out}"])
    async with Pipeline.from_config(cfg) as pipe:
        analysis = await pipe.analyze("I broke my promise to my sister and she lost her flat.")
    assert analysis.ok, analysis.errors
    assert analysis.provenance.models[f"{kind}_head"] == str(out)


def test_a_bad_record_exits_2_naming_line_and_field(tmp_path, offline_config):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "ok", "label": "joy"}) + "\n"
                    + json.dumps({"text": "bad", "label": "glee"}) + "\n")
    result = CliRunner().invoke(cli, ["train", "emotion", "--data", str(data),
                                      "--config", str(offline_config)])
    assert result.exit_code == 2
    assert "d.jsonl line 2, field 'label': unknown label 'glee'" in result.output


async def test_a_head_trained_with_its_embedder_runs_on_that_embedder(tmp_path, offline_config):
    from redheart_core.pipeline import Pipeline

    data = write_jsonl(tmp_path / "d.jsonl", read_jsonl(EMOTION_DATA / "train.jsonl")[:28])
    out = tmp_path / "tuned.pt"
    result = train_cli("emotion", "--data", str(data), "--max-epochs", "1", "--batch-size", "16",
                       "--finetune-embedder", "--out", str(out), "--config", str(offline_config))
    assert result.exit_code == 0, result.output
    tuned = tmp_path / "tuned-embedder"
    assert (tuned / "modules.json").is_file()
    assert read_head_metadata(out)["embedder_id"] == str(tuned.resolve())
    assert f"--set embedding.model={tuned}" in result.output
    cfg = load_config([offline_config], ["analyzers=[emotion]", f"embedding.model={tuned}",
                                         f"analyzer_options.emotion.checkpoint={out}"])
    async with Pipeline.from_config(cfg) as pipe:
        analysis = await pipe.analyze("My brother lied to the whole family about the money.")
    assert analysis.ok, analysis.errors
    assert analysis.provenance.models["embedder"] == str(tuned.resolve())
    assert analysis.provenance.models["emotion_head"] == str(out)


def test_ctrl_c_ends_training_with_130_and_interrupted(tmp_path, offline_config):
    """Lightning catches the KeyboardInterrupt and calls exit(1); the command still says
    `interrupted` and exits 130, like every other."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "head.pt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "redheart_core", "train", "emotion", "--data",
         str(EMOTION_DATA / "train.jsonl"), "--max-epochs", "500", "--patience", "500",
         "--out", str(out), "--config", str(offline_config), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = tmp_path / "head-checkpoints"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not any(checkpoints.glob("*")):
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().endswith("error: interrupted"), err
    assert not out.exists()
