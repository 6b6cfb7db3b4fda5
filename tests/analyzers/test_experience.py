"""The experience store: WAL, float32 blobs, cosine top-k, threads, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from redheart_core.analyzers.experience import ExperienceStore


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
    store = ExperienceStore(None)
    for i, vec in enumerate([unit(1, 0), unit(1, 0.2), unit(0, 1), unit(1, 0.5)]):
        store.add(f"t{i}", vec, i / 10, "m")
    found = store.search(unit(1, 0), "m", top_k=2, threshold=0.8)
    assert [m.text for m in found] == ["t0", "t1"]
    assert found[0].similarity == pytest.approx(1.0)
    assert [m.text for m in store.search(unit(1, 0), "m", top_k=5, threshold=0.8)] == ["t0", "t1", "t3"]
    assert store.search(unit(0, 1), "m", top_k=5, threshold=0.999)[0].text == "t2"


def test_vectors_of_another_embedder_are_never_compared():
    store = ExperienceStore(None)
    store.add("other model", unit(1, 0), 0.5, "model-a")
    assert store.search(unit(1, 0), "model-b", threshold=0.0) == []
    assert store.search(unit(1, 0, 0), "model-a", threshold=0.0) == []  # another dimension


def test_decisions_persist_and_rows_written_elsewhere_are_found(tmp_path):
    path = tmp_path / "exp.db"
    first = ExperienceStore(path)
    second = ExperienceStore(path)
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
    with pytest.raises(sqlite3.Error):  # fails inside the transaction, which is rolled back
        store.add(["not", "text"], unit(1, 0), 0.5, "m")  # type: ignore[arg-type]
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
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # no gaps: whole rows only
    store = ExperienceStore(path)
    assert store.count() == len(rows)
    assert len(store.search(np.ones(384), "m", top_k=3, threshold=-1.0)) == 3


def test_a_closed_store_says_so():
    store = ExperienceStore(None)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.count()
