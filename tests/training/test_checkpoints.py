"""The head checkpoint: what it records, and load_head refusing every mismatch."""

from __future__ import annotations

import pytest
import torch

from redheart_core.errors import ConfigError
from redheart_core.schema import BENTHAM_DIMENSIONS, EMOTIONS
from redheart_core.training.checkpoints import load_head, read_head_metadata, save_head
from redheart_core.training.heads import HeadModule

EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"


def saved(tmp_path, kind, embedder_id=EMBEDDER, dim=16):
    torch.manual_seed(0)
    module = HeadModule(kind, dim, embedder_id, hidden=8)
    return module, save_head(tmp_path / f"{kind}.pt", module)


@pytest.mark.parametrize("kind, n_out", [("emotion", 7), ("bentham", 10), ("regret", 1)])
def test_load_head_gives_the_trained_network_back(tmp_path, kind, n_out):
    module, path = saved(tmp_path, kind)
    head = load_head(path, kind, EMBEDDER)
    vectors = torch.randn(5, 16)
    out = head(vectors)
    assert out.shape == (5, n_out)
    assert torch.equal(out, module.net.eval()(vectors))
    assert not head.training and not any(p.requires_grad for p in head.parameters())
    if kind != "emotion":
        assert bool(((out >= 0) & (out <= 1)).all())


def test_checkpoint_records_embedder_and_label_order(tmp_path):
    _, path = saved(tmp_path, "emotion")
    meta = read_head_metadata(path)
    assert meta["embedder_id"] == EMBEDDER
    assert meta["labels"] == list(EMOTIONS)
    assert meta["kind"] == "emotion"
    assert read_head_metadata(saved(tmp_path, "bentham")[1])["labels"] == list(BENTHAM_DIMENSIONS)


def test_another_embedder_is_refused(tmp_path):
    _, path = saved(tmp_path, "emotion")
    with pytest.raises(ConfigError) as info:
        load_head(path, "emotion", "some/other-model")
    assert info.value.key == "analyzer_options.emotion.checkpoint"
    assert "trained on embedder 'sentence-transformers/all-MiniLM-L6-v2'" in str(info.value)
    assert "'some/other-model'" in str(info.value)


def test_a_head_of_another_kind_is_refused(tmp_path):
    _, path = saved(tmp_path, "regret")
    with pytest.raises(ConfigError, match="is a 'regret' head, not a 'emotion' head") as info:
        load_head(path, "emotion", EMBEDDER)
    assert info.value.key == "analyzer_options.emotion.checkpoint"


def test_another_label_order_is_refused(tmp_path):
    _, path = saved(tmp_path, "emotion")
    payload = torch.load(path, weights_only=True)
    payload["redheart_head"]["labels"] = list(reversed(EMOTIONS))
    torch.save(payload, path)
    with pytest.raises(ConfigError, match="trained with label order"):
        load_head(path, "emotion", EMBEDDER)


def test_missing_foreign_and_unknown_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found") as info:
        load_head(tmp_path / "none.pt", "bentham", EMBEDDER)
    assert info.value.key == "analyzer_options.bentham.checkpoint"
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ConfigError, match="not a readable torch checkpoint"):
        load_head(tmp_path / "text.pt", "bentham", EMBEDDER)
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(ConfigError, match="not a redheart head checkpoint"):
        load_head(tmp_path / "plain.pt", "bentham", EMBEDDER)
    _, path = saved(tmp_path, "emotion")
    with pytest.raises(ConfigError, match=r"unknown head kind 'ethics' \(valid: bentham, emotion, regret\)"):
        load_head(path, "ethics", EMBEDDER)


def test_loading_a_head_for_inference_does_not_import_lightning(tmp_path):
    import subprocess
    import sys

    _, path = saved(tmp_path, "regret")
    code = ("import sys; from redheart_core.training.checkpoints import load_head; "
            f"load_head({str(path)!r}, 'regret', {EMBEDDER!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lightning'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
