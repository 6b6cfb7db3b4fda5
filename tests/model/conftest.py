"""A tiny base encoder (random BERT, the bundled tokenizer) and a tiny Red Heart model trained on
it through the same code `redheart train model` runs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A two-layer, 32-wide BERT saved as a plain transformers directory (mean pooling)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from redheart_core.analyzers.embedder import bundled_path

    out = tmp_path_factory.mktemp("tiny-base")
    tokenizer = AutoTokenizer.from_pretrained(bundled_path(), local_files_only=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64,
                                 max_position_embeddings=128))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_base, tmp_path_factory):
    """``(path, report)`` of a Red Heart model trained for one short epoch on the tree's data."""
    from redheart_core.model.corpus import load_corpus
    from redheart_core.model.training import ModelTrainOptions, train_model

    out = tmp_path_factory.mktemp("tiny-model") / "tiny.safetensors"
    options = ModelTrainOptions(epochs=1, batch_size=8, limit=24, aux_per_epoch=8, emotion_repeats=1,
                                tuned_layers=1, hidden=16, progress=False)
    report = train_model(load_corpus(DATA, limit=24), str(tiny_base), str(tiny_base), out, options,
                         tmp_path_factory.mktemp("tiny-work"), command="test")
    return out, report
