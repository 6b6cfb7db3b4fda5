"""The pipeline's one vocabulary: the stages a request walks and the memory phases they run in.

A *stage* is a step of one request (its name keys ``timings_ms`` and ``errors[].stage``); a
*phase* is what the memory manager keeps resident while a stage works. Both are
:class:`enum.StrEnum`, so a member equals its plain string (``Phase.LLM == "llm"``) and plugins
may keep writing strings.
"""

from __future__ import annotations

from enum import StrEnum


class _Name(StrEnum):
    """A name that reads as its plain string everywhere, ``repr`` in messages included."""

    def __repr__(self) -> str:
        return repr(self.value)


class Phase(_Name):
    """The memory phases, in the order one request passes through them."""

    RED_HEART = "red_heart"
    CIRCUIT = "circuit"
    LLM = "llm"


class Stage(_Name):
    """The built-in stages, in route order; :attr:`phase` is the memory phase each runs in."""

    PREPARE = "prepare"
    LLM_INITIAL = "llm_initial"
    RED_HEART = "red_heart"
    CIRCUIT = "circuit"
    LLM_FINAL = "llm_final"

    @property
    def phase(self) -> Phase:
        return _STAGE_PHASE[self]


_STAGE_PHASE = {
    Stage.PREPARE: Phase.LLM,  # a translator runs beside the LLM, which reads its output
    Stage.LLM_INITIAL: Phase.LLM,
    Stage.RED_HEART: Phase.RED_HEART,
    Stage.CIRCUIT: Phase.CIRCUIT,
    Stage.LLM_FINAL: Phase.LLM,
}

#: every phase, in pipeline order
PHASES: tuple[Phase, ...] = tuple(Phase)
#: every built-in stage, in route order
STAGES: tuple[Stage, ...] = tuple(Stage)
#: the stages (and phases: the same names) an analyzer may run in
ANALYZER_STAGES: tuple[Stage, ...] = (Stage.RED_HEART, Stage.CIRCUIT)

