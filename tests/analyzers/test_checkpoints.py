"""Trained heads: loaded through training.checkpoints.load_head when a checkpoint is set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.analyzers.base import AnalyzerItem
from redheart_core.errors import ConfigError
from redheart_core.schema import EMOTIONS

from .conftest import build, run_all
from .ranges import check_outputs


def save_random_head(path, kind: str, embedder_id: str, dim: int = 384):
    from redheart_core.training.checkpoints import save_head
    from redheart_core.training.heads import HeadModule

    torch.manual_seed(0)
    return save_head(path, HeadModule(kind, dim, embedder_id, hidden=8))


def test_emotion_head_replaces_the_prototypes_and_is_recorded(tmp_path, embedder):
    path = save_random_head(tmp_path / "emotion.pt", "emotion", embedder.model_id)
    analyzer = build("emotion", checkpoint=str(path))
    assert analyzer.provenance() == {"embedder": embedder.model_id, "emotion_head": str(path)}
    assert "emotion_head" in analyzer.modules()
    out = analyzer.analyze_batch([AnalyzerItem("a", "We won the cup!")])[0]
    vector = embedder.encode(["We won the cup!"])
    with torch.no_grad():
        logits = analyzer.modules()["emotion_head"](torch.as_tensor(vector)).numpy()[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose([out["distribution"][e] for e in EMOTIONS], expected, rtol=1e-4)


def test_bentham_and_regret_heads_set_values_within_range(tmp_path, embedder, analyzers):
    bentham = build("bentham", checkpoint=str(save_random_head(tmp_path / "b.pt", "bentham", embedder.model_id)))
    regret = build("regret", checkpoint=str(save_random_head(tmp_path / "r.pt", "regret", embedder.model_id)))
    mixed = {**analyzers, "bentham": bentham, "regret": regret}
    out, _ = run_all(mixed, "The bridge collapsed and our neighbours are trapped.")
    check_outputs(out)
    assert bentham.provenance()["bentham_head"].endswith("b.pt")
    assert regret.provenance()["regret_head"].endswith("r.pt")


def test_a_head_trained_on_another_embedder_is_refused(tmp_path):
    path = save_random_head(tmp_path / "emotion.pt", "emotion", "some/other-embedder")
    with pytest.raises(ConfigError) as info:
        build("emotion", checkpoint=str(path))
    assert info.value.key == "analyzer_options.emotion.checkpoint"


def test_a_head_of_another_kind_is_refused(tmp_path, embedder):
    path = save_random_head(tmp_path / "regret.pt", "regret", embedder.model_id)
    with pytest.raises(ConfigError, match="not a 'bentham' head"):
        build("bentham", checkpoint=str(path))
