"""The experience store: past decisions the circuit recalls by embedding similarity.

SQLite in WAL mode at ``experience.path`` (in memory when null). A row holds the caller's
namespace, the embedder id, the embedding as a little-endian float32 blob, the final ethical
score, a small JSON payload and, only when the store keeps text (``experience.match_text``),
the first :data:`SNIPPET_CHARS` characters of the situation; otherwise no text at all.

Privacy: a search sees only the rows of the caller's own namespace (the service gives each API
key its own), and a match exposes its similarity and score, plus the snippet only where text
is kept. Bounded: beyond ``max_entries`` rows the oldest are deleted first, in the transaction
that adds the new ones, so neither the file nor the in-memory index grows without limit.

Each write is one transaction, so a process killed mid-write leaves the file as it was before
that write or after it, never in between; :meth:`ExperienceStore.add_many` stores a whole batch
that way. Search is exact cosine top-k above a threshold; the vectors are kept in memory and only
rows added since the last search (by any process) are read again.

One store may be shared by the threads of a pipeline: a lock serialises use of the connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import RedheartError

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    final_ethical_score REAL NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    namespace TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS experiences_scope ON experiences (namespace, model_id, id);
DROP INDEX IF EXISTS experiences_model;
"""
#: version 1 had no namespace: its rows join the default namespace ("")
_MIGRATE_FROM_1 = "ALTER TABLE experiences ADD COLUMN namespace TEXT NOT NULL DEFAULT ''"
SNIPPET_CHARS = 200
DEFAULT_MAX_ENTRIES = 10_000


class ExperienceStoreError(RedheartError):
    """The store's file cannot be opened or used (not SQLite, a directory, not writable)."""


@dataclass(frozen=True)
class Match:
    """A past decision close to the current one; ``text`` only where the store keeps text."""

    similarity: float
    final_ethical_score: float
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"similarity": self.similarity,
                               "final_ethical_score": self.final_ethical_score}
        if self.text is not None:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class Decision:
    """One decision to store: the situation's vector and its score, in a caller's namespace."""

    text: str
    vector: np.ndarray
    final_ethical_score: float
    model_id: str
    namespace: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


class _Index:
    """The vectors of one namespace and embedder, as read so far (grown by doubling)."""

    def __init__(self, dim: int):
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.scores = np.zeros(0, dtype=np.float64)
        self.texts: list[str] = []
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self.size = 0
        self.last_id = 0

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix[: self.size]

    def extend(self, ids: list[int], vectors: list[np.ndarray], scores: list[float],
               texts: list[str]) -> None:
        need = self.size + len(ids)
        if need > len(self._matrix):
            grown = np.zeros((max(need, 2 * len(self._matrix), 64), self.dim), dtype=np.float32)
            grown[: self.size] = self.matrix
            self._matrix = grown
        self._matrix[self.size:need] = np.stack(vectors)
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        self.scores = np.concatenate([self.scores, np.asarray(scores, dtype=np.float64)])
        self.texts.extend(texts)
        self.size = need

    def drop_below(self, first_id: int) -> None:
        """Forget rows evicted from the store (always the oldest: a prefix by id)."""
        cut = int(np.searchsorted(self.ids, first_id))
        if cut == 0:
            return
        self._matrix[: self.size - cut] = self._matrix[cut: self.size].copy()
        self.size -= cut
        self.ids, self.scores, self.texts = self.ids[cut:], self.scores[cut:], self.texts[cut:]
        if self.size < len(self._matrix) // 4:  # give memory back after a large eviction
            self._matrix = self._matrix[: max(self.size, 64)].copy()


class ExperienceStore:
    """Rows of past decisions with float32 embeddings; cosine search per namespace; bounded;
    safe across threads.

    ``keep_text``: store (and expose in matches) the first :data:`SNIPPET_CHARS` characters of
    each situation; off by default, when the store keeps no text at all.
    """

    def __init__(self, path: str | Path | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 keep_text: bool = False):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.path = None if path is None else str(Path(path).expanduser())
        self.max_entries = int(max_entries)
        self.keep_text = bool(keep_text)
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, str], _Index] = {}
        self._closed = False
        try:
            if self.path is not None:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path or ":memory:", check_same_thread=False,
                                         timeout=30.0, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise ExperienceStoreError(f"experience store {self.path}: {exc}") from None
        try:
            self._prepare(self._conn)
        except sqlite3.Error as exc:
            self._conn.close()
            raise ExperienceStoreError(f"experience store {self.path}: {exc}") from None

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the current schema (migrating a version-1 file in place)."""
        conn.execute("PRAGMA busy_timeout = 30000")
        if self.path is not None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch to WAL mode ({mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}, this redheart reads "
                                            f"versions up to {SCHEMA_VERSION}")
            if version == 1:
                conn.execute(_MIGRATE_FROM_1)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
            payload: dict[str, Any] | None = None, *, namespace: str = "") -> int:
        """Store one decision (one transaction); returns its id."""
        return self.add_many([Decision(text, vector, final_ethical_score, model_id, namespace,
                                       payload or {})])[0]

    def add_many(self, decisions: Sequence[Decision]) -> list[int]:
        """Store decisions in one transaction (all or none), evicting the oldest rows beyond
        ``max_entries``; returns their ids."""
        rows = []
        for d in decisions:
            vec = _unit(d.vector)
            if not isinstance(d.text, str):
                raise TypeError(f"a decision's text must be a string, got {type(d.text).__name__}")
            rows.append((d.text[:SNIPPET_CHARS] if self.keep_text else "", d.model_id,
                         int(vec.shape[0]), vec.astype("<f4").tobytes(), float(d.final_ethical_score),
                         json.dumps(d.payload, ensure_ascii=False, sort_keys=True, default=str),
                         time.time(), d.namespace))
        ids: list[int] = []
        with self._lock:
            self._check_open()
            with self._transaction():
                for row in rows:
                    cursor = self._conn.execute(
                        "INSERT INTO experiences (text, model_id, dim, embedding, final_ethical_score, "
                        "payload, created_at, namespace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                    ids.append(int(cursor.lastrowid))
                if ids:
                    self._conn.execute("DELETE FROM experiences WHERE id <= ?",
                                       (ids[-1] - self.max_entries,))
            for index in self._indexes.values():
                index.drop_below(ids[-1] - self.max_entries + 1 if ids else 0)
        return ids

    def search(self, vector: np.ndarray, model_id: str, top_k: int = 5, threshold: float = 0.75,
               *, namespace: str = "") -> list[Match]:
        """The ``top_k`` most similar past decisions of ``namespace`` with cosine similarity
        >= ``threshold``."""
        return self.search_many([vector], model_id, top_k, threshold, namespaces=[namespace])[0]

    def search_many(self, vectors: Sequence[np.ndarray], model_id: str, top_k: int = 5,
                    threshold: float = 0.75, *, namespaces: Sequence[str]) -> list[list[Match]]:
        """:meth:`search` for each vector, the ``i``-th in ``namespaces[i]``: the store is read
        once per namespace for the whole batch (the circuit asks once per request)."""
        if len(namespaces) != len(vectors):
            raise ValueError(f"search_many: {len(namespaces)} namespaces for {len(vectors)} vectors")
        queries = [_unit(v) for v in vectors]
        out = []
        with self._lock:
            self._check_open()
            indexes: dict[tuple[str, int], _Index] = {}
            for query, namespace in zip(queries, namespaces):
                key = (namespace, int(query.shape[0]))
                if key not in indexes:
                    indexes[key] = self._refresh(namespace, model_id, key[1])
                out.append(self._closest(indexes[key], query, top_k, threshold))
        return out

    def _closest(self, index: "_Index", query: np.ndarray, top_k: int, threshold: float) -> list[Match]:
        if not index.size or top_k < 1:
            return []
        sims = np.clip((index.matrix @ query).astype(np.float64), -1.0, 1.0)
        close = np.flatnonzero(sims >= threshold)  # usually few: only they are ranked
        order = close[np.argsort(-sims[close], kind="stable")[:top_k]]
        return [Match(float(sims[i]), float(index.scores[i]),
                      index.texts[i] if self.keep_text else None) for i in order]

    def _refresh(self, namespace: str, model_id: str, dim: int) -> _Index:
        index = self._indexes.get((namespace, model_id))
        if index is None or index.dim != dim:
            index = self._indexes[(namespace, model_id)] = _Index(dim)
        rows = self._conn.execute(
            "SELECT id, text, embedding, final_ethical_score FROM experiences "
            "WHERE namespace = ? AND model_id = ? AND dim = ? AND id > ? ORDER BY id",
            (namespace, model_id, dim, index.last_id)).fetchall()
        ids, vectors, scores, texts = [], [], [], []
        for row_id, text, blob, score in rows:
            index.last_id = row_id
            if len(blob) != dim * 4:
                continue  # a row written by a different build; never crash a search on it
            ids.append(row_id)
            vectors.append(np.frombuffer(blob, dtype="<f4"))
            scores.append(float(score))
            texts.append(text[:SNIPPET_CHARS] if self.keep_text else "")
        if ids:
            index.extend(ids, vectors, scores, texts)
        first = self._conn.execute("SELECT MIN(id) FROM experiences").fetchone()[0]
        index.drop_below(first if first is not None else index.last_id + 1)
        return index

    def count(self, namespace: str | None = None) -> int:
        """Rows stored, in ``namespace`` or in all of them."""
        with self._lock:
            self._check_open()
            if namespace is None:
                row = self._conn.execute("SELECT COUNT(*) FROM experiences").fetchone()
            else:
                row = self._conn.execute("SELECT COUNT(*) FROM experiences WHERE namespace = ?",
                                         (namespace,)).fetchone()
            return int(row[0])

    def get(self, row_id: int) -> dict[str, Any] | None:
        with self._lock:
            self._check_open()
            row = self._conn.execute("SELECT id, text, model_id, final_ethical_score, payload, "
                                     "created_at, namespace FROM experiences WHERE id = ?",
                                     (row_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "text": row[1], "model_id": row[2], "final_ethical_score": row[3],
                "payload": json.loads(row[4]), "created_at": row[5], "namespace": row[6]}

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
