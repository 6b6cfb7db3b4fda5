"""What the Red Heart model learns: one task per labelled source, each with its own head.

Four heads ship and serve the analyzers; the other three (deontology, justice, virtue) are
auxiliary: they shape the shared encoder during training and are dropped from the artifact.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..schema import EMOTIONS


class Objective(enum.Enum):
    """How a task's head is trained, and what one example's target looks like."""

    BINARY = "binary"          # one logit; target (0.0 or 1.0,)
    PAIRWISE = "pairwise"      # one score per text; an example is (better, worse), no target
    REGRESSION = "regression"  # one value per output; target the human ratings
    CLASSES = "classes"        # one logit per class; target (class index,)


@dataclass(frozen=True)
class Task:
    name: str
    objective: Objective
    outputs: int
    ships: bool
    source: str


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("acceptability", Objective.BINARY, 1, True,
         "ETHICS commonsense, short scenarios (1 = acceptable)"),
    Task("utility", Objective.PAIRWISE, 1, True,
         "ETHICS utilitarianism pairs (the first is the more pleasant)"),
    Task("vad", Objective.REGRESSION, 3, True, "EmoBank valence, arousal, dominance"),
    Task("emotion", Objective.CLASSES, len(EMOTIONS), True,
         "the project's labelled sentences, seven labels"),
    Task("deontology", Objective.BINARY, 1, False, "ETHICS deontology (1 = reasonable excuse)"),
    Task("justice", Objective.BINARY, 1, False, "ETHICS justice (1 = reasonable claim)"),
    Task("virtue", Objective.BINARY, 1, False, "ETHICS virtue (1 = the trait fits)"),
)}

SHIPPED: tuple[str, ...] = tuple(name for name, task in TASKS.items() if task.ships)
VAD_DIMENSIONS: tuple[str, ...] = ("valence", "arousal", "dominance")
