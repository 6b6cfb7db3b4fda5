"""The analyzer's options: ``analyzer_options.urgency`` in a redheart config.

redheart validates a user's values against this dataclass (unknown keys and wrong types fail
with the full key), so every field has a type and a default.
"""

from dataclasses import dataclass, field
from typing import List


@dataclass
class UrgencyOptions:
    #: the time pressure at which the score reaches 0.5 (score = p / (p + half_point))
    half_point: float = 2.0
    #: scores from this value up are reported as level "high"
    high_threshold: float = 0.6
    #: more words or phrases that signal time pressure (matched case-insensitively)
    extra_markers: List[str] = field(default_factory=list)
