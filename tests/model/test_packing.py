"""The packed forward: real tokens only through the matrix products, and exactly the padded
forward's bits for every window, whatever windows it is packed with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redheart_core.analyzers.embedder import bundled_path
from redheart_core.model import encoder
from redheart_core.model.encoder import PAD_TO, TextReader, batch_invariant, load_transformer, read_pooling_rule
from redheart_core.model.packing import MIN_ROWS, PackedBatch, PackedForward, packable
from redheart_core.model.tracing import eager_states

SENTENCES = ["No.", "I helped my neighbour carry her shopping up the stairs.",
             "My friend asked me to lie to cover for him at work, and I said yes.",
             "We sold the old forest to pay for the school.", "Short one.",
             "The hospital has one ventilator left and two patients who need it tonight, "
             "and the doctors must choose before the morning shift arrives at the ward."]


@pytest.fixture(scope="module")
def model():
    encoder._cpu_pool()  # made first: its worker count follows torch's threads
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reader's workers run single-threaded: so do these checks
    try:
        yield load_transformer(bundled_path())
    finally:
        torch.set_num_threads(threads)


def windows(model, texts: list[str]) -> list[list[int]]:
    reader = TextReader(*model, read_pooling_rule(bundled_path()))
    return [w.ids for w in reader._windows(texts)]


def padded_states(tokenizer, model, ids: list[list[int]]) -> list[torch.Tensor]:
    """Each window's states from the eager forward, the window alone, padded as the reader pads."""
    out = []
    for window in ids:
        width = -(-len(window) // PAD_TO) * PAD_TO
        inputs = {"input_ids": torch.full((1, width), tokenizer.pad_token_id),
                  "attention_mask": torch.zeros((1, width), dtype=torch.long)}
        inputs["input_ids"][0, :len(window)] = torch.tensor(window)
        inputs["attention_mask"][0, :len(window)] = 1
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        out.append(eager_states(model, inputs)[0, :len(window)])
    return out


def first_batch(tokenizer, model, ids: list[list[int]]):
    width = -(-max(map(len, ids)) // PAD_TO) * PAD_TO
    inputs = {"input_ids": torch.full((len(ids), width), tokenizer.pad_token_id),
              "attention_mask": torch.zeros((len(ids), width), dtype=torch.long)}
    for row, window in enumerate(ids):
        inputs["input_ids"][row, :len(window)] = torch.tensor(window)
        inputs["attention_mask"][row, :len(window)] = 1
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    return inputs, eager_states(model, inputs)


def test_a_packed_batch_lays_real_tokens_end_to_end_and_maps_them_to_the_padded_grid():
    batch = PackedBatch.of([[1, 2, 3], [4, 5]], pad_to=4, pad_id=0)
    assert batch.lengths == (3, 2)
    assert len(batch.ids) == MIN_ROWS, "padded up to the smallest product that keeps its bits"
    assert batch.ids[:5].tolist() == [1, 2, 3, 4, 5] and batch.positions[:5].tolist() == [0, 1, 2, 0, 1]
    assert batch.grid.tolist() == [[True, True, True, False], [True, True, False, False]]
    assert batch.rows[:5].tolist() == [0, 1, 2, 4, 5], "each token's cell in the 2 x 4 grid"
    assert batch.slots.tolist() == [0, 1, 2, MIN_ROWS, 3, 4, MIN_ROWS, MIN_ROWS], \
        "each cell's token; padding reads the zero row past the packed ones"


def test_every_window_gets_the_padded_forwards_bits_whatever_it_is_packed_with(model):
    tokenizer, bert = model
    ids = windows(model, SENTENCES * 3)
    expected = padded_states(tokenizer, bert, ids)
    packed = PackedForward.trace(bert, [first_batch(tokenizer, bert, ids[:4])], PAD_TO,
                                 tokenizer.pad_token_id)
    assert packed is not None
    rng = np.random.default_rng(0)
    for size in (1, 2, 5, len(ids)):
        order = rng.permutation(len(ids))
        for start in range(0, len(ids), size):
            group = order[start:start + size]
            for i, states in zip(group, packed.states([ids[i] for i in group])):
                assert torch.equal(states, expected[i]), f"window {i} packed with {len(group) - 1} others"


def test_only_the_bert_family_runs_packed(model):
    tokenizer, bert = model
    assert packable(bert)
    assert not packable(torch.nn.Linear(2, 2))
    ids = windows(model, SENTENCES[:2])
    assert PackedForward.trace(torch.nn.Linear(2, 2), [first_batch(tokenizer, bert, ids)], PAD_TO, 0) is None


def test_the_reader_packs_once_it_traces_and_keeps_the_eager_vectors(monkeypatch):
    monkeypatch.setattr(encoder, "TRACE_AFTER", 2)
    monkeypatch.setattr(encoder, "PACK_TOKENS", 24)  # several packed calls per read
    tokenizer, bert = load_transformer(bundled_path())
    rule = read_pooling_rule(bundled_path())
    eager = TextReader(tokenizer, bert, rule)
    eager._traceable = False
    spans = [[(0, 5)] for _ in SENTENCES]
    expected = eager.read(SENTENCES, spans)
    reader = TextReader(tokenizer, bert, rule)
    reader.read(SENTENCES[:2], spans[:2])
    reader.wait_for_trace()
    assert isinstance(reader._packed, PackedForward)
    for got, want in zip(reader.read(SENTENCES, spans), expected):
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_work_is_split_across_workers_by_weight_when_weights_are_given():
    parts = [part for part, _ in batch_invariant(lambda idx: idx, 6, "cpu", [10, 1, 1, 1, 1, 6])]
    if len(parts) == 1:
        pytest.skip("one CPU worker here: nothing to split")
    assert [len(p) for p in parts] == [1, 5], "the long first row is a part of its own"
    assert np.concatenate(parts).tolist() == list(range(6))
