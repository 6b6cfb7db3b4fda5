"""Training a tiny Red Heart model through the same code as `redheart train model`, and loading
the file through the users' loading code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.errors import ConfigError
from redheart_core.model.artifact import read_model
from redheart_core.model.tasks import SHIPPED


def test_training_writes_a_model_file_with_its_dev_figures(tiny_model):
    path, report = tiny_model
    meta, deltas, heads = read_model(path)
    assert meta.heads == list(SHIPPED)
    assert set(meta.tuned) == set(deltas)
    assert all(name.startswith("encoder.layer.1.") for name in meta.tuned)  # the top layer only
    assert all(d.dtype == torch.float16 for d in deltas.values())
    assert not [k for k in heads if k.split(".")[1] not in SHIPPED]  # auxiliary heads stay behind
    for figure in ("acceptability_auc", "utility_pairs", "valence_r", "emotion_accuracy", "score"):
        assert figure in report.metrics
    assert meta.training["command"] == "test" and meta.training["seconds"] > 0
    assert meta.calibration.utility_scale > 0 and meta.calibration.acceptability_temperature > 0


def test_the_file_loads_as_the_embedder_and_its_heads_read_every_task(tiny_model):
    from redheart_core.analyzers.embedder import Embedder, resolve_model

    path, _ = tiny_model
    embedder = Embedder(resolve_model(str(path)), cache_size=8)
    assert embedder.model_id.startswith("redheart:") and embedder.heads is not None
    assert set(embedder.modules()) == {"embedder", "model_heads"}
    readings = embedder.read(embedder.encode(["I helped my neighbour.", "I kicked the dog."]))
    assert readings.acceptability.shape == (2,) and np.all((0 < readings.acceptability) & (readings.acceptability < 1))
    assert readings.vad.shape == (2, 3) and np.all(np.abs(readings.vad) <= 1)
    assert readings.emotion.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_the_fine_tuned_weights_are_the_base_plus_the_stored_differences(tiny_model, tiny_base):
    from redheart_core.model.encoder import load_transformer
    from redheart_core.model.loading import apply_artifact

    path, _ = tiny_model
    _, base = load_transformer(tiny_base)
    _, tuned = load_transformer(tiny_base)
    apply_artifact(tuned, path)
    meta, deltas, _ = read_model(path)
    name = meta.tuned[0]
    expected = base.state_dict()[name] + deltas[name].float()
    assert torch.equal(tuned.state_dict()[name], expected)
    untouched = "embeddings.word_embeddings.weight"
    assert torch.equal(tuned.state_dict()[untouched], base.state_dict()[untouched])


def test_a_model_file_refuses_a_base_with_other_weights(tiny_model, tiny_base, tmp_path):
    from transformers import BertModel

    from redheart_core.model.loading import apply_artifact

    path, _ = tiny_model
    other = BertModel.from_pretrained(tiny_base)
    with torch.no_grad():
        other.encoder.layer[1].output.dense.weight.add_(0.01)
    with pytest.raises(ConfigError, match="other base weights"):
        apply_artifact(other, path)


def test_a_file_that_is_not_a_model_is_a_config_error(tmp_path):
    from safetensors.torch import save_file

    from redheart_core.analyzers.embedder import resolve_model

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(ConfigError, match="not a Red Heart model file"):
        resolve_model(str(foreign))
    with pytest.raises(ConfigError, match="not found"):
        resolve_model(str(tmp_path / "missing.safetensors"))


async def test_the_pipeline_runs_on_a_trained_file(tiny_model):
    from redheart_core import Pipeline, load_config

    path, _ = tiny_model
    config = load_config(overrides=[f"embedding.model={path}", "memory.strategy=cpu", "memory.device=cpu"])
    async with Pipeline.from_config(config) as pipe:
        result = await pipe.analyze("My friend asked me to lie to cover for him at work.")
    assert result.ok, result.errors
    assert result.provenance.models["embedder"].startswith("redheart:")
    assert result.surd.target == "base_score"
    assert 0.0 <= result.circuit.final_ethical_score <= 1.0


def test_train_model_cli_rejects_a_data_folder_without_the_files(tmp_path):
    from click.testing import CliRunner

    from redheart_core.cli import cli

    result = CliRunner().invoke(cli, ["train", "model", "--data", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2
    assert "training file not found" in result.output and str(tmp_path) in result.output


def test_the_export_is_the_best_check_or_the_mean_of_the_last_checks_whichever_scores_better(tiny_model):
    path, report = tiny_model
    meta, _, _ = read_model(path)
    training = meta.training
    assert "best_check_score" in training and "mean_of_last_checks_score" in training
    mean_won = training["mean_of_last_checks_score"] > training["best_check_score"]
    assert training["exported"].startswith("the mean of the last" if mean_won else "the best check")
    assert report.metrics["score"] == pytest.approx(max(training["best_check_score"],
                                                        training["mean_of_last_checks_score"]), abs=1e-4)


def test_averaged_weights_are_the_mean_of_each_float_weight():
    from redheart_core.model.training import averaged

    states = [{"w": torch.tensor([1.0, 2.0]), "steps": torch.tensor([3])},
              {"w": torch.tensor([3.0, 6.0]), "steps": torch.tensor([5])}]
    mean = averaged(states)
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and torch.equal(mean["steps"], torch.tensor([5]))
