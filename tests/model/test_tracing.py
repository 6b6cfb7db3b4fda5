"""The encoder traced on the CPU: the eager forward's bits, and eager again whenever a trace
cannot be made, disagrees, or no longer reads the model's tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.analyzers.embedder import bundled_path
from redheart_core.analyzers.text_cues import clause_spans
from redheart_core.model import encoder, tracing
from redheart_core.model.encoder import TextReader, load_transformer, read_pooling_rule

TEXTS = ["Short.", "I helped my neighbour carry her shopping up the stairs.",
         "My friend asked me to lie to cover for him at work, and I said yes.",
         "We sold the old forest to pay for the school.", "No."]


@pytest.fixture
def reader(monkeypatch) -> TextReader:
    monkeypatch.setattr(encoder, "TRACE_AFTER", 2)
    tokenizer, model = load_transformer(bundled_path())
    return TextReader(tokenizer, model, read_pooling_rule(bundled_path()))


def vectors(reader: TextReader, texts: list[str]) -> np.ndarray:
    return np.stack([whole for whole, _ in reader.read(texts, [clause_spans(t) for t in texts])])


def eager_vectors(texts: list[str]) -> np.ndarray:
    tokenizer, model = load_transformer(bundled_path())
    eager = TextReader(tokenizer, model, read_pooling_rule(bundled_path()))
    eager._traceable = False
    return vectors(eager, texts)


def test_the_reader_traces_its_model_once_it_has_read_enough_and_keeps_the_eager_bits(reader):
    expected = eager_vectors(TEXTS)
    first = vectors(reader, TEXTS)  # eager, then traced at the end of it
    assert reader._traced is not None
    assert np.array_equal(first, expected)
    assert np.array_equal(vectors(reader, TEXTS), expected), "traced, in one batch"
    alone = np.stack([vectors(reader, [t])[0] for t in TEXTS])
    assert np.array_equal(alone, expected), "traced, one text at a time (no padding)"


def test_a_model_that_cannot_be_traced_stays_eager(reader, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("this model cannot be traced")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    expected = eager_vectors(TEXTS)
    assert np.array_equal(vectors(reader, TEXTS), expected)
    assert reader._traced is None and not reader._traceable, "it does not try again"
    assert np.array_equal(vectors(reader, TEXTS), expected)


def test_a_trace_that_disagrees_with_the_eager_forward_is_not_used(reader, monkeypatch):
    real = tracing.TracedForward.__call__
    monkeypatch.setattr(tracing.TracedForward, "__call__", lambda self, inputs: real(self, inputs) + 1e-6)
    expected = eager_vectors(TEXTS)
    vectors(reader, TEXTS)
    assert reader._traced is None
    assert np.array_equal(vectors(reader, TEXTS), expected)


def test_a_trace_serves_only_while_the_model_holds_the_tensors_it_was_made_with(reader):
    vectors(reader, TEXTS)
    traced = reader._traced
    assert traced is not None and traced.serves(reader.model)
    weight = reader.model.embeddings.word_embeddings.weight
    before = vectors(reader, TEXTS[:2])
    with torch.no_grad():
        weight.data = weight.data * 1.5  # new tensors, as a memory manager's move gives
    assert not traced.serves(reader.model)
    after = vectors(reader, TEXTS[:2])
    assert not np.allclose(after, before), "the new weights are read, not the traced ones"
    assert reader._traced is not traced and reader._traced.serves(reader.model), "traced again"
    assert np.array_equal(vectors(reader, TEXTS[:2]), after)


def test_a_forward_hook_on_the_model_sees_every_pass(reader):
    vectors(reader, TEXTS)
    assert reader._traced is not None
    seen = []
    handle = reader.model.encoder.layer[0].register_forward_pre_hook(lambda module, args: seen.append(1))
    try:
        vectors(reader, TEXTS[:1])
    finally:
        handle.remove()
    assert seen, "a traced pass would have skipped the hook"
    assert reader._traced.serves(reader.model), "once the hook is gone the trace serves again"
