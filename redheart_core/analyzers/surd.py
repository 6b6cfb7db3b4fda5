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

        def name(combo: Combo) -> str:
            return "+".join(sources[i] for i in combo)

        return {
            "unique": {sources[c[0]]: v for c, v in self.unique.items()},
            "redundant": {name(c): v for c, v in self.redundant.items()},
            "synergistic": {name(c): v for c, v in self.synergistic.items()},
        }


def _log2(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    ok = x > 0
    np.log2(x, out=out, where=ok)
    return out


def _entropy(p: np.ndarray) -> float:
    return float(-(p * _log2(p)).sum())


def _normalised(p: np.ndarray) -> np.ndarray:
    p = np.array(p, dtype=np.float64)
    if p.ndim < 2:
        raise ValueError(f"surd needs a joint histogram with the target on axis 0 and at least "
                         f"one source axis; got an array of shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("surd: the histogram must hold finite, non-negative counts or probabilities")
    total = p.sum()
    if total <= 0:
        raise ValueError("surd: the histogram is empty (all cells are zero)")
    p /= total
    p += _FLOOR
    p /= p.sum()
    return p


def surd(p: np.ndarray) -> SurdResult:
    """Decompose ``I(T; A_1..A_n)`` of a joint histogram ``p[t, a_1, ..., a_n]``.

    ``p`` may hold counts or probabilities; it is not modified.
    """
    p = _normalised(p)
    n_axes = p.ndim
    axes = tuple(range(1, n_axes))
    n_sources = n_axes - 1

    h_target = _entropy(p.sum(axis=axes))
    h_cond = _entropy(p) - _entropy(p.sum(axis=0))
    info_leak = h_cond / h_target if h_target > 0 else 0.0

    p_s = p.sum(axis=axes, keepdims=True)  # p(t), broadcastable
    log_p_s = _log2(p_s)
    combos: list[Combo] = [c for k in range(1, n_sources + 1) for c in combinations(axes, k)]
    specific = np.empty((len(combos), p.shape[0]))  # I(T=t; A_c) for every combo c and state t
    for row, combo in enumerate(combos):
        others = tuple(a for a in axes if a not in combo)
        p_as = p.sum(axis=others, keepdims=True) if others else p
        p_a = p_as.sum(axis=0, keepdims=True)
        specific[row] = ((p_as / p_s) * (_log2(p_as / p_a) - log_p_s)).sum(axis=combo).ravel()

    weights = p_s.ravel()
    mutual = {c: float(specific[i] @ weights) for i, c in enumerate(combos)}
    redundant = {c: 0.0 for c in combos}  # single-source keys end up as unique information
    synergistic = {c: 0.0 for c in combos if len(c) > 1}
    orders = np.array([len(c) for c in combos])

    for t in range(p.shape[0]):
        info = specific[:, t].copy()
        # a combination of order n+1 that does not beat the best of order n adds nothing
        for order in range(1, n_sources):
            best = info[orders == order].max()
            higher = orders == order + 1
            info[higher & (info < best)] = 0.0
        ranked = np.argsort(info, kind="stable")
        steps = np.diff(info[ranked], prepend=0.0) * weights[t]
        remaining = list(axes)
        for row, step in zip(ranked, steps):
            combo = combos[row]
            if len(combo) == 1:
                redundant[tuple(remaining)] += float(step)
                remaining.remove(combo[0])
            else:
                synergistic[combo] += float(step)

    def zero_based(c: Combo) -> Combo:
        return tuple(i - 1 for i in c)

    def bits(v: float) -> float:  # rounding can leave -1e-17 where the exact value is 0
        return max(v, 0.0)

    return SurdResult(
        unique={zero_based(c): bits(v) for c, v in redundant.items() if len(c) == 1},
        redundant={zero_based(c): bits(v) for c, v in redundant.items() if len(c) > 1},
        synergistic={zero_based(c): bits(v) for c, v in synergistic.items()},
        mutual_information={zero_based(c): bits(v) for c, v in mutual.items()},
        info_leak=float(min(max(info_leak, 0.0), 1.0)),
    )


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
    hist, _ = np.histogramdd(data, bins=bins)
    return replace(surd(hist), warning=sampling_warning(hist))


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
