"""Lexical cues the analyzers read from a text: who a clause speaks of, urgency, hedging.

The embedder says *what* is felt; these small word lists say *whose* situation a clause is
about (self / other / community, by pronouns and role nouns) and how urgent, certain,
lasting or intense it sounds. English and Korean cues are listed, so an untranslated Korean
text still gets its levels.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ..schema import LEVELS

LEVEL_CUES: dict[str, frozenset[str]] = {
    "self": frozenset("""
        i me my mine myself i'm im i've i'd i'll
        나 내 저 제 나는 내가 저는 제가 나의 저의 나를 저를 나도 저도 나에게 제게
    """.split()),
    "other": frozenset("""
        he she him her his hers himself herself you your yours they them their
        friend friends colleague colleagues coworker coworkers co-worker boss manager brother
        sister mother father mom mum dad parent parents son daughter wife husband partner
        girlfriend boyfriend neighbour neighbor child kid teacher student patient client
        customer someone somebody person man woman boy girl baby grandmother grandfather
        grandma grandpa uncle aunt cousin stranger employee victim
        그 그녀 그가 그는 그를 그의 친구 친구가 친구를 동료 상사 어머니 아버지 엄마 아빠 형 누나 오빠 언니
        동생 아들 딸 아내 남편 이웃 아이 선생님 환자 고객 누군가
    """.split()),
    "community": frozenset("""
        we us our ours ourselves community communities town towns village villages city
        cities country nation society people public everyone everybody citizens residents
        neighbourhood neighborhood families workers employees villagers townspeople locals
        hundreds thousands millions dozens population humanity world children students
        patients school hospital tenants voters taxpayers crowd crowds generation
        우리 우리는 우리의 사회 지역 마을 도시 나라 국민 시민 주민 사람들 모두 공동체 가족들 주민들
        시민들 직원들 학생들 아이들 세계
    """.split()),
}

URGENCY_CUES = frozenset("""
    now immediately urgent urgently emergency tonight today asap deadline hurry quickly
    soon instantly crisis right-away dying
    지금 당장 즉시 긴급 오늘 빨리 급히 마감
""".split())

HEDGE_CUES = frozenset("""
    maybe perhaps might could possibly probably unsure uncertain unclear wonder seems
    guess doubt whether if
    아마 혹시 어쩌면 모르겠 불확실
""".split())

INTENSIFIER_CUES = frozenset("""
    very extremely so really terribly deeply utterly completely totally absolutely
    devastating devastated furious terrified horrific grave catastrophic overwhelming
    매우 정말 너무 엄청 완전히 극도로
""".split())

PERMANENCE_CUES = frozenset("""
    forever permanent permanently years lifelong never died dead killed death lost
    destroyed irreversible always decades
    영원히 평생 죽었 사망 영구 잃었
""".split())

FAIRNESS_CUES = frozenset("""
    fair unfair justice injustice equal unequal share shared rights deserve cheat cheating
    steal stole bribe corruption discrimination exploit
    공정 불공정 정의 불의 평등 권리
""".split())

_TOKEN = re.compile(r"[\w'-]+", re.UNICODE)
_CLAUSE_SPLIT = re.compile(
    r"(?<=[.!?。;])\s+|\n+|,?\s+(?:but|while|although|though|whereas|however|yet)\s+",
    re.IGNORECASE,
)
_KOREAN_PARTICLES = ("은", "는", "이", "가", "을", "를", "의", "에게", "도", "들")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _variants(token: str) -> tuple[str, ...]:
    """A token and, for Korean words, the token with one trailing particle removed."""
    if token.isascii():
        return (token,)
    for particle in _KOREAN_PARTICLES:
        if len(token) > len(particle) and token.endswith(particle):
            return token, token[: -len(particle)]
    return (token,)


def count(text_tokens: list[str], cues: frozenset[str]) -> int:
    return sum(1 for t in text_tokens if any(v in cues for v in _variants(t)))


def count_prefix(text_tokens: list[str], cues: frozenset[str]) -> int:
    """Like :func:`count`, but a Korean cue may also start a token (verbs inflect: 죽었다)."""
    return sum(1 for t in text_tokens
               if t in cues or not t.isascii() and any(not c.isascii() and t.startswith(c) for c in cues))


#: "my sister" speaks of the sister: a possessive before a role noun is not about the self
_POSSESSIVES = frozenset("my our 내 제 나의 저의 우리".split())


def level_counts(text_tokens: list[str]) -> dict[str, int]:
    """Mentions of each level; a possessive followed by a person or group counts for that."""
    counts = {level: 0 for level in LEVELS}
    for i, token in enumerate(text_tokens):
        following = text_tokens[i + 1] if i + 1 < len(text_tokens) else ""
        if token in _POSSESSIVES and following and any(
                count([following], LEVEL_CUES[lv]) for lv in ("other", "community")):
            continue
        for level in LEVELS:
            if any(v in LEVEL_CUES[level] for v in _variants(token)):
                counts[level] += 1
    return counts


#: most clauses one text is read in: a longer text is read in this many runs of clauses
MAX_CLAUSES = 48


def clause_spans(text: str, max_clauses: int = MAX_CLAUSES) -> list[tuple[int, int]]:
    """Character spans of the text's sentences and contrastive clauses ("..., but ...").

    A text of more than ``max_clauses`` clauses is read in ``max_clauses`` runs of consecutive
    clauses, which bounds the work per text.
    """
    bounds, start = [], 0
    for match in _CLAUSE_SPLIT.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    spans = []
    for a, b in bounds:
        while a < b and text[a] in " ,;":
            a += 1
        while b > a and text[b - 1] in " ,;":
            b -= 1
        if any(ch.isalnum() for ch in text[a:b]):
            spans.append((a, b))
    if len(spans) > max_clauses:
        cuts = [round(i * len(spans) / max_clauses) for i in range(max_clauses + 1)]
        spans = [(spans[i][0], spans[j - 1][1]) for i, j in zip(cuts[:-1], cuts[1:])]
    return spans


def clauses(text: str, max_clauses: int = MAX_CLAUSES) -> list[str]:
    """The text split into sentences and contrastive clauses ("..., but ...")."""
    return [text[a:b] for a, b in clause_spans(text, max_clauses)]


@dataclass(frozen=True)
class Cues:
    """How one text speaks: level mentions, urgency, hedging, intensity, permanence, fairness."""

    levels: Mapping[str, int]
    urgency: float
    hedging: float
    intensifiers: int
    permanence: float
    fairness: float


@functools.lru_cache(maxsize=4096)
def read_cues(text: str) -> Cues:
    """The text's cues; cached, since every analyzer of a request reads the same text's."""
    toks = tokens(text)
    n = max(len(toks), 1)
    scale = 1.0 / (1.0 + n / 40.0)  # a long text mentions everything more often

    def saturate(hits: int) -> float:
        return float(1.0 - 0.5 ** (hits * scale * 1.5)) if hits else 0.0

    return Cues(
        levels=MappingProxyType(level_counts(toks)),
        urgency=saturate(count_prefix(toks, URGENCY_CUES)),
        hedging=saturate(count_prefix(toks, HEDGE_CUES)),
        intensifiers=count(toks, INTENSIFIER_CUES) + text.count("!"),
        permanence=saturate(count_prefix(toks, PERMANENCE_CUES)),
        fairness=saturate(count_prefix(toks, FAIRNESS_CUES)),
    )
