"""What each trainable head predicts: its kind, the record field holding the target, and the
label order the outputs follow (the canonical orders of :mod:`redheart_core.schema`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..schema import BENTHAM_DIMENSIONS, EMOTIONS


@dataclass(frozen=True)
class HeadTarget:
    """One trainable head.

    ``classifies``: the head outputs logits over ``labels`` (one label per record); otherwise
    it outputs one value in 0..1 per label.
    """

    kind: str
    field: str
    labels: tuple[str, ...]
    classifies: bool

    @property
    def n_outputs(self) -> int:
        return len(self.labels)


TARGETS: dict[str, HeadTarget] = {
    "emotion": HeadTarget("emotion", "label", EMOTIONS, classifies=True),
    "bentham": HeadTarget("bentham", "bentham", BENTHAM_DIMENSIONS, classifies=False),
    "regret": HeadTarget("regret", "regret", ("regret",), classifies=False),
}


def head_target(kind: str, key: str = "kind") -> HeadTarget:
    """The target of head ``kind``; an unknown kind is a :class:`ConfigError` at ``key``."""
    try:
        return TARGETS[kind]
    except KeyError:
        raise ConfigError(key, f"unknown head kind {kind!r}", choices=TARGETS) from None
