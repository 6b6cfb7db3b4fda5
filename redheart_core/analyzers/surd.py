"""SURD: synergistic, unique and redundant causal decomposition of information, in bits.

The exact specific-information algorithm of Martinez-Sanchez, Arranz and Lozano-Duran,
"Decomposing causality into its synergistic, unique, and redundant components",
Nature Communications 15, 9296 (2024), doi:10.1038/s41467-024-53373-4.

For each target state ``t`` the specific mutual information ``I(T=t; A_j)`` of every
combination ``j`` of sources is computed; combinations of order ``n+1`` that add no information
beyond the best combination of order ``n`` are zeroed; the values are sorted and their
increments are handed out: an increment reached by a single source is redundancy shared by
every source not yet passed (unique information when one source remains), an increment reached
by a combination is synergy of that combination. Each state's share is weighted by ``p(t)``.
The parts add up to the mutual information of all sources with the target.

``surd_from_samples`` bins samples into equal-width bins over each variable's observed range
(exactly as :func:`numpy.histogramdd` does) and decomposes the resulting histogram. When the
samples are too few for the bins it says so in ``SurdResult.warning`` (see
:data:`MIN_SAMPLES_PER_BIN`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Sequence

import numpy as np

#: what the reference implementation adds to every cell so that no logarithm sees a zero
_FLOOR = 1e-14

Combo = tuple[int, ...]

#: The rule for a meaningful estimate: on average at least this many samples in each occupied
#: bin of the joint histogram (target and all sources). With fewer, most samples sit alone in
#: their bin, every conditional entropy looks near zero, and the sources seem to explain the
#: target whether or not they do (independent noise then shows 10 to 100 % of H(T) as
#: "information", and the leak drops toward 0).
MIN_SAMPLES_PER_BIN = 3.0


@dataclass(frozen=True)
class SurdResult:
    """A SURD decomposition; source indices are 0-based, every value is in bits.

    ``unique`` maps ``(i,)``; ``redundant`` and ``synergistic`` map combinations of two or more
    sources; ``mutual_information`` maps every combination to ``I(T; A_combo)``; ``info_leak``
    is ``H(T | all sources) / H(T)``, the share of the target no source explains (0..1).
    """

    unique: dict[Combo, float]
    redundant: dict[Combo, float]
    synergistic: dict[Combo, float]
    mutual_information: dict[Combo, float]
    info_leak: float
    #: set when the samples are too few for the bins (see MIN_SAMPLES_PER_BIN)
    warning: str | None = None

    @property
    def n_sources(self) -> int:
        return len(self.unique)

    @property
    def total_mutual_information(self) -> float:
        return self.mutual_information[tuple(range(self.n_sources))]

    def named(self, sources: Sequence[str]) -> dict[str, dict[str, float]]:
        """The three parts keyed by source names (``"a"``, ``"a+b"``), as a result carries them."""
        if len(sources) != self.n_sources:
            raise ValueError(f"{self.n_sources} source names needed, got {len(sources)}")

        names = tuple(sources)
        return {
            "unique": {sources[c[0]]: v for c, v in self.unique.items()},
            "redundant": dict(zip(_names(tuple(self.redundant), names), self.redundant.values())),
            "synergistic": dict(zip(_names(tuple(self.synergistic), names), self.synergistic.values())),
        }


@functools.cache
def _names(combos: tuple[Combo, ...], sources: tuple[str, ...]) -> tuple[str, ...]:
    """Each combination's name (``"a+b"``): every result of a decomposition names the same ones."""
    return tuple("+".join(sources[i] for i in combo) for combo in combos)


def _log2(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    ok = x > 0
    np.log2(x, out=out, where=ok)
    return out


def _entropies(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of each distribution along the leading axis."""
    return -(p * _log2(p)).reshape(len(p), -1).sum(axis=1)


def _normalised(p: np.ndarray) -> np.ndarray:
    """Each histogram of the batch ``p[b, t, a_1, ...]`` as probabilities, floored like the
    reference implementation."""
    p = np.array(p, dtype=np.float64)
    if p.ndim < 3:
        raise ValueError(f"surd needs a joint histogram with the target on axis 0 and at least "
                         f"one source axis; got an array of shape {p.shape[1:]}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("surd: the histogram must hold finite, non-negative counts or probabilities")
    totals = p.reshape(len(p), -1).sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("surd: the histogram is empty (all cells are zero)")
    shape = (len(p),) + (1,) * (p.ndim - 1)
    p /= totals.reshape(shape)
    p += _FLOOR
    p /= p.reshape(len(p), -1).sum(axis=1).reshape(shape)
    return p


def surd(p: np.ndarray) -> SurdResult:
    """Decompose ``I(T; A_1..A_n)`` of a joint histogram ``p[t, a_1, ..., a_n]``.

    ``p`` may hold counts or probabilities; it is not modified.
    """
    return surd_batch(np.asarray(p)[None])[0]


def surd_batch(p: np.ndarray) -> list[SurdResult]:
    """:func:`surd` of each histogram of a batch ``p[b, t, a_1, ..., a_n]``, computed together
    (the per-request analyzer decomposes a whole micro-batch in one pass)."""
    p = _normalised(p)
    batch = len(p)
    axes = tuple(range(2, p.ndim))  # the sources' axes
    n_sources = len(axes)

    h_target = _entropies(p.sum(axis=axes))
    h_cond = _entropies(p) - _entropies(p.sum(axis=1))

    p_s = p.sum(axis=axes, keepdims=True)  # p(t), broadcastable
    log_p_s = np.log2(p_s)  # the floor keeps every cell, so every marginal, above zero
    combos: list[Combo] = [c for k in range(1, n_sources + 1) for c in combinations(axes, k)]
    marginals = _marginals(p, axes)
    specific = np.empty((batch, len(combos), p.shape[1]))  # I(T=t; A_c) per histogram, combo, t
    for row, combo in enumerate(combos):
        p_as = marginals[combo]
        p_a = p_as.sum(axis=1, keepdims=True)
        specific[:, row] = ((p_as / p_s) * (np.log2(p_as / p_a) - log_p_s)).sum(axis=combo).reshape(batch, -1)

    weights = p_s.reshape(batch, -1)
    mutual = np.einsum("bct,bt->bc", specific, weights)
    return _decompose(combos, specific, weights, mutual, h_target, h_cond)


def _marginals(p: np.ndarray, axes: Combo) -> dict[Combo, np.ndarray]:
    """``p`` summed over every subset of the source axes (kept as size-1 axes), keyed by the
    sources that remain; each from a marginal one source larger, so most sums run over small
    arrays."""
    out = {axes: p}
    for combo, parent, dropped in _marginal_plan(axes):
        out[combo] = out[parent].sum(axis=dropped, keepdims=True)
    return out


@functools.cache
def _marginal_plan(axes: Combo) -> tuple[tuple[Combo, Combo, int], ...]:
    """``(combination, the marginal one source larger it is summed from, the axis summed)``
    for every combination of ``axes`` below all of them, larger ones first (worked out once
    per number of sources)."""
    plan: list[tuple[Combo, Combo, int]] = []
    made = [axes]
    for size in range(len(axes) - 1, 0, -1):
        for combo in combinations(axes, size):
            parent = next(c for c in made if len(c) == size + 1 and set(combo) < set(c))
            plan.append((combo, parent, next(a for a in parent if a not in combo)))
            made.append(combo)
    return tuple(plan)


def _decompose(combos: list[Combo], specific: np.ndarray, weights: np.ndarray,
               mutual: np.ndarray, h_target: np.ndarray, h_cond: np.ndarray) -> list[SurdResult]:
    """Hand out each histogram's specific information ``specific[b, c, t]`` as unique,
    redundant and synergistic, every histogram and target state at once.

    Per state ``t`` of histogram ``b`` the combinations' values, sorted, hand out their
    increments (times ``p(t)``) in turn: to the synergy of a combination, or, for a single
    source, to the redundancy of the sources not yet passed. States are added up in order, in
    the same floating-point operations as a scalar loop over them would take."""
    batch, n_combos, states = specific.shape
    axes = tuple(c[0] for c in combos if len(c) == 1)
    orders = np.array([len(c) for c in combos])
    info = np.moveaxis(specific, 2, 1).reshape(batch * states, n_combos).copy()
    # a combination of order n+1 that does not beat the best of order n adds nothing
    for order in range(1, len(axes)):
        best = info[:, orders == order].max(axis=1, keepdims=True)
        higher = orders == order + 1
        info[:, higher] = np.where(info[:, higher] < best, 0.0, info[:, higher])
    ranked = np.argsort(info, axis=1, kind="stable")
    values = np.take_along_axis(info, ranked, axis=1)
    steps = np.diff(values, axis=1, prepend=0.0) * weights.reshape(-1, 1)
    # which sources a single-source step leaves: those not passed before it, as a bit mask
    bits = np.array([1 << axes.index(c[0]) if len(c) == 1 else 0 for c in combos])[ranked]
    remaining = (1 << len(axes)) - 1 - (np.cumsum(bits, axis=1) - bits)
    single = bits > 0
    rows = np.arange(batch * states)[:, None]
    redundant = np.zeros((batch * states, 1 << len(axes)))
    redundant[np.broadcast_to(rows, ranked.shape)[single], remaining[single]] = steps[single]
    synergistic = np.zeros((batch * states, n_combos))
    synergistic[np.broadcast_to(rows, ranked.shape)[~single], ranked[~single]] = steps[~single]
    redundant = redundant.reshape(batch, states, -1)
    synergistic = synergistic.reshape(batch, states, -1)
    redundant_sum = np.zeros((batch, redundant.shape[2]))
    synergistic_sum = np.zeros((batch, n_combos))
    for t in range(states):
        redundant_sum += redundant[:, t]
        synergistic_sum += synergistic[:, t]

    singles, groups, everything = _result_keys(tuple(combos))
    leaks = np.clip(np.divide(h_cond, h_target, out=np.zeros_like(h_cond), where=h_target > 0), 0.0, 1.0)
    out = []
    # rounding can leave -1e-17 where the exact value is 0: every value is clipped at 0
    for red, syn, mi, leak in zip(np.maximum(redundant_sum, 0.0).tolist(),
                                  np.maximum(synergistic_sum, 0.0).tolist(),
                                  np.maximum(mutual, 0.0).tolist(), leaks.tolist()):
        out.append(SurdResult(
            unique={c: red[m] for c, m in singles},
            redundant={c: red[m] for c, m, _ in groups},
            synergistic={c: syn[row] for c, _, row in groups},
            mutual_information=dict(zip(everything, mi)),
            info_leak=leak,
        ))
    return out


@functools.cache
def _result_keys(combos: tuple[Combo, ...]) -> tuple[list[tuple[Combo, int]],
                                                     list[tuple[Combo, int, int]], list[Combo]]:
    """Where each part of a :class:`SurdResult` comes from (worked out once per number of
    sources): each single source with its bit mask, each combination of several with its mask
    and row, and every combination, all as 0-based source indices."""
    axes = tuple(c[0] for c in combos if len(c) == 1)
    zero_based = _zero_based(combos)
    masks = [sum(1 << axes.index(a) for a in c) for c in combos]
    singles = [(zero_based[c], m) for c, m in zip(combos, masks) if len(c) == 1]
    groups = [(zero_based[c], m, row) for row, (c, m) in enumerate(zip(combos, masks)) if len(c) > 1]
    return singles, groups, [zero_based[c] for c in combos]


@functools.cache
def _zero_based(combos: tuple[Combo, ...]) -> dict[Combo, Combo]:
    """Each combination of histogram axes as 0-based source indices (axis 1 is the target)."""
    first = min(i for c in combos for i in c)
    return {c: tuple(i - first for i in c) for c in combos}


def joint_counts(samples: np.ndarray, bins: int) -> np.ndarray:
    """Histograms of a batch of samples ``(batch, n, variables)``: ``(batch, bins, ..., bins)``
    counts with equal-width bins over each variable's observed range, exactly as
    :func:`numpy.histogramdd` bins one of them (every variable of the batch at once)."""
    batch, n, variables = samples.shape
    values = np.moveaxis(samples, 1, 2).reshape(batch * variables, n)  # one row per variable
    low, high = values.min(axis=1, keepdims=True), values.max(axis=1, keepdims=True)
    same = low == high
    low, high = np.where(same, low - 0.5, low), np.where(same, high + 0.5, high)
    edges = np.linspace(low[:, 0], high[:, 0], bins + 1, axis=1)  # histogramdd's edges
    # a value's bin is how many inner edges it reaches: histogramdd's searchsorted, with the
    # maximum (on the last edge) in the last bin
    index = np.zeros(values.shape, dtype=np.int8 if bins <= 127 else np.int64)  # small: fast adds
    for inner in range(1, bins):
        index += values >= edges[:, inner:inner + 1]
    places = bins ** np.arange(variables - 1, -1, -1, dtype=np.int64)  # the first varies slowest
    flat = (index.reshape(batch, variables, n) * places[None, :, None]).sum(axis=1)
    counts = np.bincount((flat + np.arange(batch)[:, None] * bins ** variables).ravel(),
                         minlength=batch * bins ** variables)
    return counts.reshape((batch,) + (bins,) * variables).astype(np.float64)


def surd_from_samples(target: np.ndarray, sources: np.ndarray | Sequence[np.ndarray],
                      bins: int = 8) -> SurdResult:
    """SURD of samples: ``target`` (n,), ``sources`` (n, k) or k arrays of n values.

    Each variable is cut into ``bins`` equal-width bins over its observed range, as
    :func:`numpy.histogramdd` does.
    """
    target = np.asarray(target, dtype=np.float64).ravel()
    if isinstance(sources, np.ndarray):
        src = sources.astype(np.float64, copy=False)
        src = src[:, None] if src.ndim == 1 else src
    else:
        src = np.column_stack([np.asarray(s, dtype=np.float64).ravel() for s in sources])
    if src.shape[0] != target.shape[0]:
        raise ValueError(f"surd_from_samples: {target.shape[0]} target samples but "
                         f"{src.shape[0]} source samples")
    if target.shape[0] == 0:
        raise ValueError("surd_from_samples: no samples")
    if bins < 2:
        raise ValueError(f"surd_from_samples: bins must be at least 2, got {bins}")
    data = np.column_stack([target, src])
    if not np.all(np.isfinite(data)):
        raise ValueError("surd_from_samples: samples must be finite")
    return surd_of_samples(data[None], bins)[0]


def surd_of_samples(samples: np.ndarray, bins: int) -> list[SurdResult]:
    """SURD of each sample set of a batch ``(batch, n, 1 + sources)`` (the target first), each
    with its :func:`sampling_warning`."""
    counts = joint_counts(samples, bins)
    return [replace(result, warning=sampling_warning(c))
            for result, c in zip(surd_batch(counts), counts)]


def sampling_warning(counts: np.ndarray) -> str | None:
    """Why a joint histogram of counts holds too few samples for SURD, or None when it does not."""
    samples = int(counts.sum())
    occupied = int(np.count_nonzero(counts))
    per_bin = samples / occupied if occupied else 0.0
    if per_bin >= MIN_SAMPLES_PER_BIN:
        return None
    bins = "x".join(str(n) for n in counts.shape)
    return (f"too few samples for the bins: {samples} samples fill {occupied} of the "
            f"{counts.size} joint bins ({bins}), {per_bin:.1f} per occupied bin where SURD needs "
            f"at least {MIN_SAMPLES_PER_BIN:g}; the figures mostly measure sampling noise. "
            "Use fewer bins or sources, or more samples")
