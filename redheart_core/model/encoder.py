"""A sentence encoder read with plain ``transformers``: loading, pooling, and one pass per text.

A sentence-transformers directory (the bundled all-MiniLM-L6-v2 among them) is a transformers
model plus a pooling rule; reading that rule here instead of importing sentence-transformers
saves about two seconds of start-up. :meth:`TextReader.read` encodes each text once and returns
the whole text's vector together with a vector per character span (a clause), pooled from the
same token states, so the analyzers' clause-level readings cost no second pass. A text longer
than the model's window is read in consecutive windows and pooled over all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from .packing import PackedForward
from .tracing import Inputs, TracedForward, eager_states, hooked, padded_example

if TYPE_CHECKING:
    import torch

log = logging.getLogger("redheart.model")

#: modules of a sentence-transformers pipeline this reader reproduces
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
BATCH_ROWS = 32
PAD_TO = 16
#: real tokens a packed forward call reads at most (:mod:`.packing`): the matrix products run at
#: full speed from about 256 rows, and a request's encode queued behind a batch's read-ahead
#: waits for one such call, not a whole chunk
PACK_TOKENS = 256
#: windows a reader reads eagerly before it traces its model on the CPU (:mod:`.tracing`): a
#: trace costs about half a core-second once (on its own thread), which a batch repays within a
#: few hundred texts; one cold analysis reads 64 (its text, scenarios and the analyzers'
#: exemplars) and never traces
TRACE_AFTER = 256
Span = tuple[int, int]


@dataclass(frozen=True)
class PoolingRule:
    """How token states become one sentence vector (from the directory's own config)."""

    mode: str = "mean"       # mean | cls
    normalize: bool = True
    max_length: int = 256


def read_pooling_rule(path: str | Path) -> PoolingRule:
    """The pooling rule of a sentence-transformers directory (a plain model: mean, normalised)."""
    path = Path(path)
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return PoolingRule()
    modules = json.loads(modules_file.read_text("utf-8"))
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    unsupported = [k for k in kinds if k not in _SUPPORTED_MODULES]
    if unsupported:
        raise ConfigError("embedding.model", f"{str(path)!r} uses sentence-transformers module(s) "
                          f"{', '.join(unsupported)}, which redheart does not reproduce; it reads "
                          f"{', '.join(_SUPPORTED_MODULES)} (mean or CLS pooling)")
    mode, max_length = "mean", 256
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = json.loads((path / module["path"] / "config.json").read_text("utf-8"))
            if config.get("pooling_mode_cls_token"):
                mode = "cls"
            elif not config.get("pooling_mode_mean_tokens", True):
                raise ConfigError("embedding.model", f"{str(path)!r} pools by a rule other than "
                                  "mean or CLS, which redheart does not reproduce")
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        max_length = int(json.loads(st_config.read_text("utf-8")).get("max_seq_length", max_length))
    return PoolingRule(mode=mode, normalize="Normalize" in kinds or mode == "mean", max_length=max_length)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No weight-loading progress bar inside the block: it would land in the CLI's output and
    the service's logs. The previous setting is restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_transformer(path: str | Path) -> tuple[object, "torch.nn.Module"]:
    """``(tokenizer, model)`` from a local directory, never the network, without progress bars."""
    from transformers import AutoModel, AutoTokenizer

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
    model.eval()
    return tokenizer, model


def pool(states: "torch.Tensor", mask: "torch.Tensor", rule: PoolingRule) -> "torch.Tensor":
    """Sentence vectors ``(batch, dim)`` from token states and the attention mask."""
    import torch

    if rule.mode == "cls":
        vectors = states[:, 0]
    else:
        weights = mask.unsqueeze(-1).to(states.dtype)
        vectors = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(vectors, dim=-1) if rule.normalize else vectors


_pool: "ThreadPoolExecutor | None" = None
_pool_lock = threading.Lock()


def _cpu_pool() -> "ThreadPoolExecutor":
    """One worker per torch thread, each running torch single-threaded."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import torch

            _pool = ThreadPoolExecutor(max(1, torch.get_num_threads()), thread_name_prefix="redheart-cpu",
                                       initializer=torch.set_num_threads, initargs=(1,))
        return _pool


_tracer: "ThreadPoolExecutor | None" = None


def _trace_pool() -> "ThreadPoolExecutor":
    """The thread that traces encoders (:meth:`TextReader._start_trace`), torch single-threaded
    like the CPU workers whose bits its checks compare with."""
    global _tracer
    with _pool_lock:
        if _tracer is None:
            import torch

            _tracer = ThreadPoolExecutor(1, thread_name_prefix="redheart-trace",
                                         initializer=torch.set_num_threads, initargs=(1,))
        return _tracer


def batch_invariant(fn: Callable[[np.ndarray], np.ndarray], rows: int, device: str = "cpu",
                    weights: Sequence[int] | None = None) -> list[tuple[np.ndarray, Any]]:
    """``[(row indices, fn(row indices))]`` for ``rows`` rows split across single-threaded CPU
    workers, one per core, in contiguous parts of about equal ``weights`` (of equal row counts
    without them).

    torch's intra-op threads split a matrix product differently for different batch sizes,
    which moves the last bits of each row's result; single-threaded, a row's result depends on
    that row alone, so a text gets the same numbers whatever batch it lands in. Off the CPU
    ``fn`` runs once on every row.
    """
    everything = np.arange(rows)
    if device != "cpu" or rows == 0:
        return [(everything, fn(everything))]
    pool = _cpu_pool()
    count = min(pool._max_workers, rows)
    if weights is None:
        parts = np.array_split(everything, count)
    else:
        cumulative = np.cumsum(weights)
        cuts = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, count) / count) + 1
        parts = np.split(everything, np.clip(cuts, 1, rows - 1))
    parts = [p for p in parts if len(p)]
    return list(zip(parts, pool.map(fn, parts)))


def rowwise(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``vectors @ matrix``, one row at a time: a matrix-matrix product's blocking depends on how
    many rows share it, so a text's scores would move in the last bits with its batch."""
    vectors = np.asarray(vectors)
    out = np.empty((len(vectors), matrix.shape[1]), dtype=np.result_type(vectors, matrix))
    for i, row in enumerate(vectors):
        out[i] = row @ matrix
    return out


@dataclass
class _Window:
    text: int          # which text it belongs to
    ids: list[int]     # with the special tokens
    offsets: list[Span]  # character span of each id ((0, 0) for special tokens)


class TextReader:
    """Encodes texts with a loaded transformer: whole-text and span vectors from one pass."""

    def __init__(self, tokenizer: object, model: "torch.nn.Module", rule: PoolingRule):
        self.tokenizer = tokenizer
        self.model = model
        self.rule = rule
        self.window = min(rule.max_length, int(model.config.max_position_embeddings))
        self._token_types = "token_type_ids" in tokenizer.model_input_names
        self._traced: TracedForward | None = None
        self._packed: PackedForward | None = None
        self._eager_windows = 0
        self._traceable = True  # until a trace fails or disagrees
        self._trace_lock = threading.Lock()
        self._tracing: "Future[None] | None" = None

    def _windows(self, texts: Sequence[str]) -> list[_Window]:
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                                 truncation=False, verbose=False)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        room = self.window - 2
        windows = []
        for t, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
            starts = range(0, max(len(ids), 1), room)
            for start in starts:
                chunk, spans = ids[start:start + room], [tuple(o) for o in offsets[start:start + room]]
                windows.append(_Window(t, [cls, *chunk, sep], [(0, 0), *spans, (0, 0)]))
        return windows

    def _states(self, windows: list[_Window]) -> list[np.ndarray]:
        """Token states ``(len(ids), dim)`` of each window, batched by length (packed, once the
        packed forward is traced: :meth:`_packed_states`).

        On the CPU each batch is split across single-threaded workers (:func:`batch_invariant`),
        so a text's vectors are the same whatever batch it lands in.
        """
        device = next(self.model.parameters()).device
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        out: list[np.ndarray | None] = [None] * len(windows)
        packed = self._packed
        if packed is not None and device.type == "cpu" and packed.serves(self.model):
            self._packed_states(windows, order, packed, out)
            return out  # type: ignore[return-value]
        for begin in range(0, len(order), BATCH_ROWS):
            rows = np.array(order[begin:begin + BATCH_ROWS])
            for part, states in batch_invariant(lambda idx: self._forward(windows, rows[idx], device),
                                                len(rows), device.type):
                for r, i in enumerate(rows[part]):
                    out[i] = states[r, :len(windows[i].ids)]
        return out  # type: ignore[return-value]

    def _packed_states(self, windows: list[_Window], order: list[int], packed: PackedForward,
                       out: list[np.ndarray | None]) -> None:
        """:meth:`_states` through the packed forward: batches of at most :data:`PACK_TOKENS`
        real tokens per worker, split across the workers by tokens."""
        lengths = [len(windows[i].ids) for i in order]
        budget = PACK_TOKENS * _cpu_pool()._max_workers
        begin = 0
        while begin < len(order):
            end, tokens = begin, 0
            while end < len(order) and (end == begin or tokens + lengths[end] <= budget):
                tokens += lengths[end]
                end += 1
            rows = np.array(order[begin:end])

            def run(idx: np.ndarray) -> list[np.ndarray]:
                return [s.numpy() for s in packed.states([windows[i].ids for i in rows[idx]])]

            for part, states in batch_invariant(run, len(rows), "cpu", lengths[begin:end]):
                for i, state in zip(rows[part], states):
                    out[i] = state
            begin = end

    def _forward(self, windows: list[_Window], rows: Sequence[int], device: "torch.device") -> np.ndarray:
        import torch

        pad = self.tokenizer.pad_token_id or 0
        # padded to a multiple of PAD_TO: a row's numbers then do not depend on how far its batch
        # pads it (the kernels' tails, under that, handle the last positions differently)
        longest = max(len(windows[i].ids) for i in rows)
        width = -(-longest // PAD_TO) * PAD_TO
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            n = len(windows[i].ids)
            ids[r, :n] = torch.tensor(windows[i].ids)
            mask[r, :n] = 1
        inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        if self._token_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        return self._run(inputs, device).float().cpu().numpy()

    def _run(self, inputs: Inputs, device: "torch.device") -> "torch.Tensor":
        """The token states of ``inputs``: traced on the CPU once enough windows have been read
        (:data:`TRACE_AFTER`), else eagerly."""
        traced = self._traced
        if traced is not None and traced.serves(self.model):
            return traced(inputs)
        states = eager_states(self.model, inputs)
        if device.type == "cpu" and self._traceable and not hooked(self.model):
            self._eager_windows += len(states)
            if self._eager_windows >= TRACE_AFTER:
                self._start_trace(inputs, states)
        return states

    def _start_trace(self, inputs: Inputs, states: "torch.Tensor") -> None:
        """Trace on a thread of its own (:func:`_trace_pool`): a trace takes about half a second,
        during which reads go on eagerly instead of waiting for it (a request arriving during a
        batch call would otherwise)."""
        with self._trace_lock:
            if self._tracing is None or self._tracing.done():
                self._tracing = _trace_pool().submit(self._trace, inputs, states)

    def wait_for_trace(self) -> None:
        """Return once a trace under way is made or given up (for tests and benchmarks)."""
        tracing = self._tracing
        if tracing is not None:
            tracing.result()

    def _trace(self, inputs: Inputs, states: "torch.Tensor") -> None:
        """Trace the packed forward (:mod:`.packing`), or the padded one where the model cannot
        run packed; ``inputs`` and ``states``, a batch just read eagerly, check the trace."""
        if any(t is not None and t.serves(self.model) for t in (self._packed, self._traced)):
            return  # traced meanwhile
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id or 0
        try:
            example = padded_example(tokenizer.cls_token_id, tokenizer.sep_token_id, pad,
                                     self._token_types)
            # the packed forward pads its attention to PAD_TO, so its example is padded so too
            wide = padded_example(tokenizer.cls_token_id, tokenizer.sep_token_id, pad,
                                  self._token_types, PAD_TO)
            packed = PackedForward.trace(
                self.model, [(inputs, states), (wide, eager_states(self.model, wide))], PAD_TO, pad)
            self._traced = None if packed is not None else \
                TracedForward.trace(self.model, example, (inputs, states))
        except Exception as exc:  # whatever a trace trips on, the reader stays eager
            log.debug("tracing the encoder failed (%s: %s); it runs eagerly", type(exc).__name__,
                      exc, extra={"event": "trace_failed"})
            packed = self._traced = None
        self._packed = packed
        self._traceable = packed is not None or self._traced is not None

    def read(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each text, ``(vector (dim,), span vectors (len(spans), dim))``, float32.

        A span that covers no token (or lies past what the model reads) gets the whole text's
        vector.
        """
        windows = self._windows(texts)
        states = self._states(windows) if windows else []
        per_text: dict[int, list[tuple[_Window, np.ndarray]]] = {}
        for window, state in zip(windows, states):
            per_text.setdefault(window.text, []).append((window, state))
        out = []
        for t, text_spans in enumerate(spans):
            parts = per_text[t]
            tokens = np.concatenate([s for _, s in parts])
            offsets = np.array([o for w, _ in parts for o in w.offsets]).reshape(-1, 2)
            real = offsets[:, 1] > offsets[:, 0]
            whole = parts[0][1][0] if self.rule.mode == "cls" else tokens.mean(axis=0)
            vectors = []
            for start, end in text_spans:
                inside = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
                vectors.append(tokens[inside].mean(axis=0) if inside.any() else None)
            whole = _unit(whole) if self.rule.normalize else whole
            span_vectors = np.stack([_unit(v) if (v is not None and self.rule.normalize) else
                                     (whole if v is None else v) for v in vectors]) \
                if vectors else np.zeros((0, whole.shape[0]), dtype=np.float32)
            out.append((whole.astype(np.float32), span_vectors.astype(np.float32)))
        return out


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class SentenceEncoder:
    """A loaded transformer with its pooling rule, for training: texts (or text pairs) in,
    differentiable sentence vectors out, the same vectors :class:`TextReader` gives a short text.
    """

    def __init__(self, path: str | Path):
        self.source = Path(path)
        self.rule = read_pooling_rule(path)
        self.tokenizer, self.model = load_transformer(path)

    def features(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                 max_length: int | None = None) -> dict[str, "torch.Tensor"]:
        return dict(self.tokenizer(list(texts), list(pairs) if pairs is not None else None,
                                   padding=True, truncation=True,
                                   max_length=max_length or self.rule.max_length, return_tensors="pt"))

    def vectors(self, features: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        device = next(self.model.parameters()).device
        features = {k: v.to(device) for k, v in features.items()}
        return pool(self.model(**features).last_hidden_state, features["attention_mask"], self.rule)

    def save(self, directory: str | Path) -> Path:
        """Write a directory that loads as ``embedding.model`` (weights, tokenizer, pooling)."""
        import shutil

        directory = Path(directory)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
            if (self.source / name).is_file():
                shutil.copy(self.source / name, directory / name)
        if (self.source / "1_Pooling").is_dir():
            shutil.copytree(self.source / "1_Pooling", directory / "1_Pooling", dirs_exist_ok=True)
        return directory
