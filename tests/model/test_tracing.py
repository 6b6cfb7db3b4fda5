"""The encoder traced on the CPU, packed (the BERT family) or padded (any other model): the
eager forward's bits, and eager again whenever a trace cannot be made, disagrees, or no longer
reads the model's tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.analyzers.embedder import bundled_path
from redheart_core.analyzers.text_cues import clause_spans
from redheart_core.model import encoder, packing, tracing
from redheart_core.model.encoder import TextReader, load_transformer, read_pooling_rule

TEXTS = ["Short.", "I helped my neighbour carry her shopping up the stairs.",
         "My friend asked me to lie to cover for him at work, and I said yes.",
         "We sold the old forest to pay for the school.", "No."]


@pytest.fixture(params=["packed", "padded"])
def reader(request, monkeypatch) -> TextReader:
    """A reader that traces after two windows: packed (all-MiniLM-L6-v2 is a BERT model), or
    padded, as a model the packed forward does not know is traced."""
    monkeypatch.setattr(encoder, "TRACE_AFTER", 2)
    if request.param == "padded":
        monkeypatch.setattr(packing, "packable", lambda model: False)
    tokenizer, model = load_transformer(bundled_path())
    return TextReader(tokenizer, model, read_pooling_rule(bundled_path()))


def trace_of(reader: TextReader) -> "packing.PackedForward | tracing.TracedForward | None":
    """The trace the reader made, packed or padded (it makes one of them)."""
    assert reader._packed is None or reader._traced is None
    return reader._packed or reader._traced


def vectors(reader: TextReader, texts: list[str]) -> np.ndarray:
    return np.stack([whole for whole, _ in reader.read(texts, [clause_spans(t) for t in texts])])


def eager_vectors(texts: list[str]) -> np.ndarray:
    tokenizer, model = load_transformer(bundled_path())
    eager = TextReader(tokenizer, model, read_pooling_rule(bundled_path()))
    eager._traceable = False
    return vectors(eager, texts)


def test_the_reader_traces_its_model_once_it_has_read_enough_and_keeps_the_eager_bits(reader):
    expected = eager_vectors(TEXTS)
    first = vectors(reader, TEXTS)  # eager, and traced beside it
    reader.wait_for_trace()
    assert trace_of(reader) is not None
    assert np.array_equal(first, expected)
    assert np.array_equal(vectors(reader, TEXTS), expected), "traced, in one batch"
    alone = np.stack([vectors(reader, [t])[0] for t in TEXTS])
    assert np.array_equal(alone, expected), "traced, one text at a time (no padding)"


def test_a_bert_model_is_traced_packed_and_any_other_padded(reader, request):
    packed = request.node.callspec.params["reader"] == "packed"
    vectors(reader, TEXTS)
    reader.wait_for_trace()
    assert isinstance(trace_of(reader), packing.PackedForward if packed else tracing.TracedForward)


def test_a_model_that_cannot_be_traced_stays_eager(reader, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("this model cannot be traced")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    expected = eager_vectors(TEXTS)
    assert np.array_equal(vectors(reader, TEXTS), expected)
    reader.wait_for_trace()
    assert trace_of(reader) is None and not reader._traceable, "it does not try again"
    assert np.array_equal(vectors(reader, TEXTS), expected)


def test_a_trace_that_disagrees_with_the_eager_forward_is_not_used(reader, monkeypatch):
    real, real_packed = tracing.TracedForward.__call__, packing.PackedForward.run
    monkeypatch.setattr(tracing.TracedForward, "__call__", lambda self, inputs: real(self, inputs) + 1e-6)
    monkeypatch.setattr(packing.PackedForward, "run", lambda self, batch: real_packed(self, batch) + 1e-6)
    expected = eager_vectors(TEXTS)
    vectors(reader, TEXTS)
    reader.wait_for_trace()
    assert trace_of(reader) is None
    assert np.array_equal(vectors(reader, TEXTS), expected)


def test_a_packed_trace_that_disagrees_leaves_the_padded_trace(monkeypatch):
    monkeypatch.setattr(encoder, "TRACE_AFTER", 2)
    real = packing.PackedForward.run
    monkeypatch.setattr(packing.PackedForward, "run", lambda self, batch: real(self, batch) + 1e-6)
    tokenizer, model = load_transformer(bundled_path())
    reader = TextReader(tokenizer, model, read_pooling_rule(bundled_path()))
    expected = eager_vectors(TEXTS)
    vectors(reader, TEXTS)
    reader.wait_for_trace()
    assert reader._packed is None and isinstance(reader._traced, tracing.TracedForward)
    assert np.array_equal(vectors(reader, TEXTS), expected)


def test_a_trace_serves_only_while_the_model_holds_the_tensors_it_was_made_with(reader):
    vectors(reader, TEXTS)
    reader.wait_for_trace()
    traced = trace_of(reader)
    assert traced is not None and traced.serves(reader.model)
    weight = reader.model.embeddings.word_embeddings.weight
    before = vectors(reader, TEXTS[:2])
    with torch.no_grad():
        weight.data = weight.data * 1.5  # new tensors, as a memory manager's move gives
    assert not traced.serves(reader.model)
    after = vectors(reader, TEXTS[:2])
    reader.wait_for_trace()
    assert not np.allclose(after, before), "the new weights are read, not the traced ones"
    assert trace_of(reader) is not traced and trace_of(reader).serves(reader.model), "traced again"
    assert np.array_equal(vectors(reader, TEXTS[:2]), after)


def test_a_forward_hook_on_the_model_sees_every_pass(reader):
    vectors(reader, TEXTS)
    reader.wait_for_trace()
    assert trace_of(reader) is not None
    seen = []
    handle = reader.model.encoder.layer[0].register_forward_pre_hook(lambda module, args: seen.append(1))
    try:
        vectors(reader, TEXTS[:1])
    finally:
        handle.remove()
    assert seen, "a traced pass would have skipped the hook"
    assert trace_of(reader).serves(reader.model), "once the hook is gone the trace serves again"


def test_reads_go_on_eagerly_while_a_trace_is_being_made(reader, monkeypatch):
    import threading

    started, release = threading.Event(), threading.Event()
    real_packed, real_padded = packing.PackedForward.trace, tracing.TracedForward.trace

    def slow(real):
        def trace(*args, **kwargs):
            started.set()
            release.wait(30)
            return real(*args, **kwargs)
        return trace

    monkeypatch.setattr(packing.PackedForward, "trace", slow(real_packed))
    monkeypatch.setattr(tracing.TracedForward, "trace", slow(real_padded))
    expected = eager_vectors(TEXTS)
    vectors(reader, TEXTS)
    assert started.wait(30), "the trace started"
    assert np.array_equal(vectors(reader, TEXTS), expected), "read eagerly, not held by the trace"
    assert trace_of(reader) is None
    release.set()
    reader.wait_for_trace()
    assert trace_of(reader) is not None
    assert np.array_equal(vectors(reader, TEXTS), expected)
