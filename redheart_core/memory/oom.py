"""Recognising an out-of-memory error, and splitting and merging a batch to get past one."""

from __future__ import annotations

from typing import Any, Sequence


def is_oom(exc: BaseException) -> bool:
    """torch's ``OutOfMemoryError``, or the RuntimeErrors cuBLAS / cuDNN raise for the same."""
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def halve(batch: Sequence[Any]) -> list[Sequence[Any]]:
    """The default split: two halves (the caller only splits batches of two or more)."""
    mid = len(batch) // 2
    return [batch[:mid], batch[mid:]]


def concat(parts: list[Any]) -> Any:
    """The default merge: lists and tuples concatenate, tensors and arrays concatenate on dim 0."""
    first = parts[0]
    if isinstance(first, (list, tuple)):
        return type(first)(item for part in parts for item in part)
    module = type(first).__module__.split(".")[0]
    if module == "torch":
        import torch

        return torch.cat(parts)
    if module == "numpy":
        import numpy

        return numpy.concatenate(parts)
    raise TypeError(f"cannot merge split results of type {type(first).__name__}; pass merge=")
