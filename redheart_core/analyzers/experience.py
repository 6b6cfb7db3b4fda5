"""The experience store: past decisions the circuit recalls by embedding similarity.

SQLite in WAL mode at ``experience.path`` (in memory when null). A row holds the text, the
embedder id, the embedding as a little-endian float32 blob, the final ethical score and a JSON
payload. Each decision is written in one transaction, so a process killed mid-write leaves the
file as it was before that decision or after it, never in between. Search is exact cosine top-k
above a threshold over the rows of the same embedder; the vectors are kept in memory and only
rows added since the last search (by any process) are read again.

One store may be shared by the threads of a pipeline: a lock serialises use of the connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    final_ethical_score REAL NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS experiences_model ON experiences (model_id, id);
"""
SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Match:
    """A past decision close to the current one."""

    id: int
    text: str
    similarity: float
    final_ethical_score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text[:SNIPPET_CHARS], "similarity": self.similarity,
                "final_ethical_score": self.final_ethical_score}


class _Index:
    """The vectors of one embedder, as read so far."""

    def __init__(self, dim: int):
        self.dim = dim
        self.ids: list[int] = []
        self.scores: list[float] = []
        self.texts: list[str] = []
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.last_id = 0


class ExperienceStore:
    """Rows of past decisions with float32 embeddings; cosine search; safe across threads."""

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else str(Path(path).expanduser())
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path or ":memory:", check_same_thread=False,
                                     timeout=30.0, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if self.path is not None:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"experience store {self.path}: could not switch to WAL mode ({mode})")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(statement)
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise RuntimeError(f"experience store {self.path}: schema version {version}, "
                                   f"this redheart reads version {SCHEMA_VERSION}")
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._indexes: dict[str, _Index] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"ExperienceStore({self.path or ':memory:'!r})"

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: all of it lands, or none of it."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def add(self, text: str, vector: np.ndarray, final_ethical_score: float, model_id: str,
            payload: dict[str, Any] | None = None) -> int:
        """Store one decision (one transaction); returns its id."""
        vec = _unit(vector)
        blob = vec.astype("<f4").tobytes()
        body = json.dumps(payload or {}, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            self._check_open()
            with self._transaction():
                cursor = self._conn.execute(
                    "INSERT INTO experiences (text, model_id, dim, embedding, final_ethical_score, "
                    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (text, model_id, int(vec.shape[0]), blob, float(final_ethical_score), body, time.time()))
            return int(cursor.lastrowid)

    def search(self, vector: np.ndarray, model_id: str, top_k: int = 5,
               threshold: float = 0.75) -> list[Match]:
        """The ``top_k`` most similar past decisions with cosine similarity >= ``threshold``."""
        query = _unit(vector)
        with self._lock:
            self._check_open()
            index = self._refresh(model_id, int(query.shape[0]))
            if not index.ids or top_k < 1:
                return []
            sims = np.clip((index.matrix @ query).astype(np.float64), -1.0, 1.0)
            order = np.argsort(-sims, kind="stable")[:top_k]
            return [Match(index.ids[i], index.texts[i], float(sims[i]), index.scores[i])
                    for i in order if sims[i] >= threshold]

    def _refresh(self, model_id: str, dim: int) -> _Index:
        index = self._indexes.get(model_id)
        if index is None or index.dim != dim:
            index = self._indexes[model_id] = _Index(dim)
        rows = self._conn.execute(
            "SELECT id, text, embedding, final_ethical_score FROM experiences "
            "WHERE model_id = ? AND dim = ? AND id > ? ORDER BY id", (model_id, dim, index.last_id)).fetchall()
        if rows:
            vectors = []
            for row_id, text, blob, score in rows:
                index.last_id = row_id
                if len(blob) != dim * 4:
                    continue  # a row written by a different build; never crash a search on it
                vectors.append(np.frombuffer(blob, dtype="<f4"))
                index.ids.append(row_id)
                index.texts.append(text)
                index.scores.append(float(score))
            if vectors:
                index.matrix = np.vstack([index.matrix, np.stack(vectors)])
        return index

    def count(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._conn.execute("SELECT COUNT(*) FROM experiences").fetchone()[0])

    def get(self, row_id: int) -> dict[str, Any] | None:
        with self._lock:
            self._check_open()
            row = self._conn.execute("SELECT id, text, model_id, final_ethical_score, payload, created_at "
                                     "FROM experiences WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "text": row[1], "model_id": row[2], "final_ethical_score": row[3],
                "payload": json.loads(row[4]), "created_at": row[5]}

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._conn.close()
                self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")


def _unit(vector: np.ndarray) -> np.ndarray:
    vec = np.asarray(vector, dtype=np.float32).ravel()
    if vec.size == 0 or not np.all(np.isfinite(vec)):
        raise ValueError("an experience embedding must be a non-empty finite vector")
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec
