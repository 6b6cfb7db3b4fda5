"""The experience store: WAL, float32 blobs, cosine top-k, threads, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from redheart_core.analyzers.experience import SNIPPET_CHARS, Decision, ExperienceStore
from redheart_core.analyzers.experience_file import check_store_path
from redheart_core.config import load_config
from redheart_core.errors import ConfigError


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_file_store_uses_wal_and_float32_blobs(tmp_path):
    path = tmp_path / "exp.db"
    store = ExperienceStore(path)
    store.add("a situation", np.array([3.0, 4.0]), 0.7, "m", {"note": "x"})
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    blob, dim = conn.execute("SELECT embedding, dim FROM experiences").fetchone()
    assert dim == 2 and len(blob) == 8
    np.testing.assert_allclose(np.frombuffer(blob, dtype="<f4"), [0.6, 0.8])


def test_search_returns_top_k_above_the_threshold_best_first():
    store = ExperienceStore(None, keep_text=True)
    for i, vec in enumerate([unit(1, 0), unit(1, 0.2), unit(0, 1), unit(1, 0.5)]):
        store.add(f"t{i}", vec, i / 10, "m")
    found = store.search(unit(1, 0), "m", top_k=2, threshold=0.8)
    assert [m.text for m in found] == ["t0", "t1"]
    assert found[0].similarity == pytest.approx(1.0)
    assert [m.text for m in store.search(unit(1, 0), "m", top_k=5, threshold=0.8)] == ["t0", "t1", "t3"]
    assert store.search(unit(0, 1), "m", top_k=5, threshold=0.999)[0].text == "t2"


def test_a_batch_search_finds_what_each_search_finds_in_its_own_namespace():
    store = ExperienceStore(None, keep_text=True)
    for i, vec in enumerate([unit(1, 0), unit(1, 0.2), unit(0, 1)]):
        store.add(f"mine {i}", vec, i / 10, "m", namespace="a")
    store.add("theirs", unit(1, 0.1), 0.9, "m", namespace="b")
    queries, namespaces = [unit(1, 0), unit(0, 1), unit(1, 0)], ["a", "a", "b"]
    found = store.search_many(queries, "m", top_k=2, threshold=0.5, namespaces=namespaces)
    assert found == [store.search(q, "m", top_k=2, threshold=0.5, namespace=n)
                     for q, n in zip(queries, namespaces)]
    assert [[m.text for m in matches] for matches in found] == [["mine 0", "mine 1"], ["mine 2"], ["theirs"]]
    with pytest.raises(ValueError, match="2 namespaces for 3 vectors"):
        store.search_many(queries, "m", namespaces=["a", "b"])


def test_vectors_of_another_embedder_are_never_compared():
    store = ExperienceStore(None)
    store.add("other model", unit(1, 0), 0.5, "model-a")
    assert store.search(unit(1, 0), "model-b", threshold=0.0) == []
    assert store.search(unit(1, 0, 0), "model-a", threshold=0.0) == []  # another dimension


def test_decisions_persist_and_rows_written_elsewhere_are_found(tmp_path):
    path = tmp_path / "exp.db"
    first = ExperienceStore(path, keep_text=True)
    second = ExperienceStore(path, keep_text=True)
    assert second.search(unit(1, 1), "m") == []
    first.add("written by the first", unit(1, 1), 0.4, "m")
    assert [m.text for m in second.search(unit(1, 1), "m")] == ["written by the first"]
    first.close()
    second.close()
    assert ExperienceStore(path).count() == 1


def test_concurrent_threads_add_and_search_without_losing_rows(tmp_path):
    store = ExperienceStore(tmp_path / "exp.db")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((8, 50, 16)).astype(np.float32)
    errors = []

    def work(k: int) -> None:
        try:
            for v in vectors[k]:
                store.add(f"thread {k}", v, 0.5, "m")
                store.search(v, "m", top_k=3, threshold=0.0)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 400
    assert store.search(vectors[3][7], "m", top_k=1)[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_a_failed_write_leaves_nothing_behind_and_the_store_usable(tmp_path):
    store = ExperienceStore(tmp_path / "exp.db")
    with pytest.raises(ValueError):
        store.add("bad", np.array([np.nan, 1.0]), 0.5, "m")
    with pytest.raises(sqlite3.Error):  # the second fails inside the transaction: neither lands
        store.add_many([Decision("fine", unit(1, 0), 0.5, "m"),
                        Decision("bad", unit(1, 0), 0.5, "m", namespace=["not", "text"])])  # type: ignore[arg-type]
    assert store.count() == 0
    store.add("fine", unit(1, 0), 0.5, "m")
    assert store.count() == 1


def test_a_process_killed_while_writing_leaves_a_consistent_store(tmp_path):
    path = tmp_path / "exp.db"
    writer = textwrap.dedent(f"""
        import numpy as np, sys
        from redheart_core.analyzers.experience import ExperienceStore
        store = ExperienceStore({str(path)!r})
        rng = np.random.default_rng(0)
        print("ready", flush=True)
        i = 0
        while True:
            store.add(f"decision {{i}}", rng.standard_normal(384), 0.5, "m", {{"i": i}})
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT id, dim, length(embedding), payload FROM experiences ORDER BY id").fetchall()
    conn.close()
    assert rows, "the writer should have committed some decisions before it was killed"
    assert all(dim == 384 and size == 384 * 4 for _, dim, size, _ in rows)
    ids = [r[0] for r in rows]  # the oldest may have been evicted (max_entries), but no gaps
    assert ids == list(range(ids[0], ids[0] + len(rows)))
    store = ExperienceStore(path)
    assert store.count() == len(rows)
    assert len(store.search(np.ones(384), "m", top_k=3, threshold=-1.0)) == 3


def test_a_closed_store_says_so():
    store = ExperienceStore(None)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()


# ------------------------------------------------------------------ privacy and bounds


def test_a_match_exposes_no_stored_text_by_default_and_the_store_keeps_none(tmp_path):
    path = tmp_path / "exp.db"
    store = ExperienceStore(path)
    store.add("Jane Roe (record 4471-22) told me she is HIV positive", unit(1, 0), 0.4, "m")
    match = store.search(unit(1, 0.01), "m")[0]
    assert match.to_dict() == {"similarity": pytest.approx(1.0, abs=1e-3), "final_ethical_score": 0.4}
    store.close()
    assert sqlite3.connect(path).execute("SELECT text FROM experiences").fetchall() == [("",)]


def test_with_keep_text_a_match_carries_only_a_snippet():
    store = ExperienceStore(None, keep_text=True)
    store.add("x" * 1000, unit(1, 0), 0.4, "m")
    assert store.search(unit(1, 0), "m")[0].to_dict()["text"] == "x" * SNIPPET_CHARS


def test_a_search_sees_only_its_own_namespace():
    store = ExperienceStore(None, keep_text=True)
    store.add("alice's secret", unit(1, 0), 0.2, "m", namespace="alice")
    store.add("anonymous text", unit(1, 0), 0.9, "m")
    assert [m.text for m in store.search(unit(1, 0), "m", namespace="bob")] == []
    assert [m.text for m in store.search(unit(1, 0), "m", namespace="alice")] == ["alice's secret"]
    assert [m.text for m in store.search(unit(1, 0), "m")] == ["anonymous text"]
    assert store.count("alice") == 1 and store.count() == 2


def test_the_store_keeps_at_most_max_entries_evicting_the_oldest(tmp_path):
    store = ExperienceStore(tmp_path / "exp.db", max_entries=50)
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    for i, v in enumerate(vectors):
        store.add(f"t{i}", v, i / 400, "m", namespace=f"caller{i % 3}")
        store.search(v, "m", namespace=f"caller{i % 3}", threshold=-1.0)
    assert store.count() == 50
    indexed = sum(index.size for index in store._indexes.values())
    assert indexed == 50, "the in-memory index forgets evicted rows too"
    first_kept = vectors[350]
    assert store.search(first_kept, "m", top_k=1, namespace="caller2")[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert store.search(vectors[0], "m", top_k=1, threshold=0.999, namespace="caller0") == []


def test_add_many_stores_a_batch_in_one_transaction():
    store = ExperienceStore(None)
    ids = store.add_many([Decision(f"t{i}", unit(1, i), 0.5, "m", "ns") for i in range(5)])
    assert ids == [1, 2, 3, 4, 5] and store.count("ns") == 5


def test_a_version_1_file_is_migrated_into_the_default_namespace(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE experiences (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL,
            model_id TEXT NOT NULL, dim INTEGER NOT NULL, embedding BLOB NOT NULL,
            final_ethical_score REAL NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE INDEX experiences_model ON experiences (model_id, id);
        PRAGMA user_version = 1;
    """)
    conn.execute("INSERT INTO experiences (text, model_id, dim, embedding, final_ethical_score, "
                 "payload, created_at) VALUES ('old', 'm', 2, ?, 0.3, '{}', 0)",
                 (unit(1, 0).astype("<f4").tobytes(),))
    conn.commit()
    conn.close()
    store = ExperienceStore(path)
    assert [m.final_ethical_score for m in store.search(unit(1, 0), "m")] == [pytest.approx(0.3)]
    assert store.search(unit(1, 0), "m", namespace="someone") == []


@pytest.mark.parametrize("make, fragment", [
    (lambda d: d, "is a directory"),
    (lambda d: (d / "notes.txt", (d / "notes.txt").write_text("not a database"))[0], "not an SQLite database"),
    (lambda d: (d / "file", (d / "file").write_text(""))[0] / "sub" / "exp.db", "cannot be created"),
])
def test_an_unusable_store_path_is_a_config_error_naming_the_key(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=fragment) as info:
        check_store_path(path)
    assert info.value.key == "experience.path"
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[f"experience.path={path}"], validate=False)
    assert info.value.key == "experience.path"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_store_place_is_a_config_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be created") as info:
            check_store_path(locked / "sub" / "exp.db")
        assert info.value.key == "experience.path"
    finally:
        locked.chmod(0o700)


class FullDiskStore(ExperienceStore):
    """A store whose write fails when it holds the marked text, as a full disk fails one write."""

    MARK = "[disk-full]"

    def add(self, text, *args, **kwargs):  # the path of a store written one decision at a time
        if self.MARK in text:
            raise sqlite3.OperationalError("database or disk is full")
        return super().add(text, *args, **kwargs)

    def add_many(self, decisions):
        if any(self.MARK in d.text for d in decisions):
            raise sqlite3.OperationalError("database or disk is full")
        return super().add_many(decisions)


async def test_a_circuit_batch_split_after_a_failure_stores_each_successful_request_once():
    from redheart_core.pipeline import Pipeline

    cfg = load_config(overrides=["analyzers=[emotion,bentham,ethics,regret,circuit]",
                                 "pipeline.concurrency=8", "pipeline.batch_wait_ms=50"])
    texts = [f"My friend asked me to cover for him at work, case {i}." for i in range(7)]
    texts.append(f"My friend asked me to cover for him at work {FullDiskStore.MARK}.")
    pipe = Pipeline.from_config(cfg)
    store = pipe.runtime.__dict__["experience"] = FullDiskStore(None)
    async with pipe:
        results = await pipe.analyze_many(texts)
    assert [r.ok for r in results] == [True] * 7 + [False]
    assert [e.stage for e in results[-1].errors] == ["circuit"]
    assert store.count() == 7, "each successful request stored its decision exactly once"
