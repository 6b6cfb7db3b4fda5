"""The shared encoder read with plain transformers: the same vectors as sentence-transformers'
recipe, one pass per text, clause vectors from that pass, and long texts read whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.analyzers.embedder import Embedder, resolve_model
from redheart_core.analyzers.text_cues import clause_spans


@pytest.fixture(scope="module")
def plain():
    return Embedder(resolve_model("bundled-minilm"), cache_size=64)


def reference(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2's recipe by hand: mean of the token states, L2-normalised."""
    tokenizer, model = embedder._reader.tokenizer, embedder._reader.model
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = (states * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(vectors, dim=-1).numpy()


def test_vectors_follow_the_models_own_pooling_recipe(plain):
    texts = ["I helped my neighbour carry her groceries.", "The storm flooded the whole village."]
    assert np.abs(plain.encode(texts) - reference(plain, texts)).max() < 1e-5


def test_a_text_is_read_by_one_encoder_pass_for_its_vector_and_its_clauses(plain):
    calls = []
    hook = plain.module.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        plain.clear_cache()
        text = "I won the prize, but my friend lost his job. The town is grieving."
        encoding = plain.encodings([text])[0]
        plain.encodings([text])
    finally:
        hook.remove()
    assert len(calls) == 1
    assert encoding.clauses.shape == (len(clause_spans(text)), plain.dim) == (3, plain.dim)
    assert np.allclose(np.linalg.norm(encoding.clauses, axis=1), 1.0, atol=1e-5)


def test_a_clause_vector_reads_that_clause(plain):
    text = "We celebrated our wedding with all our friends. Later the house burned down."
    clause_vectors = plain.encodings([text])[0].clauses
    alone = plain.encode(["We celebrated our wedding with all our friends.", "Later the house burned down."])
    similarity = clause_vectors @ alone.T
    assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]


def test_a_text_longer_than_the_window_is_read_to_its_end(plain):
    long = " ".join(["The weather was mild and the day was ordinary."] * 60) + " Then the dam broke."
    assert plain.token_count(long) > 256
    clauses = plain.encodings([long])[0].clauses
    last = plain.encode(["Then the dam broke."])[0]
    assert float(clauses[-1] @ last) > 0.6  # the last clause was read, not truncated away


def test_a_vector_does_not_depend_on_the_batch_it_was_encoded_in(plain):
    texts = ["Short.", "A somewhat longer sentence about a difficult choice at work.", "Mid length text here."]
    plain.clear_cache()
    together = plain.encode(texts)
    alone = []
    for text in texts:
        plain.clear_cache()
        alone.append(plain.encode([text])[0])
    assert np.abs(together - np.stack(alone)).max() < 1e-6
